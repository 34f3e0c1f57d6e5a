// The sketch's portable core built for the Nano 33 IoT's CPU (Cortex-M0+)
// with Debian's arm-none-eabi GCC and newlib-nano, where installed; linked by
// tests/test_firmware.py with free_memory.cpp.  No Arduino core or library
// is involved, so this checks only what they cannot change: that the core
// compiles for the target, that its atomics are plain loads and stores (a
// Cortex-M0+ has no read-modify-write instructions, and a call to
// __atomic_* would not link), that sbrk() resolves for free_memory(), and
// the sample queue's size.
#include "../ecg_monitor/backoff.h"
#include "../ecg_monitor/config.h"
#include "../ecg_monitor/free_memory.h"
#include "../ecg_monitor/pacer.h"
#include "../ecg_monitor/restart.h"
#include "../ecg_protocol.h"

// The same objects as the sketch, under names the test reads with nm.
ecg::SampleQueue<kQueueSize> g_samples;
ecg::FrameBuilder<kBatch> g_frames(kBatch);
RatePacer g_pacer(kTimerClockHz, kSampleRateHz);
Backoff g_backoff(kLinkRetryFirstMs, kLinkRetryMaxMs);
RestartPolicy g_restart(kRestartBelowFreeBytes, kRestartAfterLinkFailures);
volatile uint32_t g_sink;

int main() {
  g_samples.put(static_cast<int16_t>(g_pacer.next_period()), 0);
  ecg::Sample s = ecg::Sample();
  while (g_samples.take(s)) g_sink = g_frames.add(s) ? g_frames.frame_size() : 0;
  g_restart.link_failed();
  g_sink = g_samples.discard() + g_samples.dropped() + g_backoff.next_ms(g_sink) + g_restart.due(free_memory());
  return 0;
}
