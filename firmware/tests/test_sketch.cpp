// Host simulation of the whole sketch: ecg_monitor.ino, sampler.cpp and
// watchdog.cpp compiled unchanged against the stand-ins in sim/ (Arduino
// core, SAMD21 registers, WiFiNINA, arduinoWebSockets).  The test plays the
// hardware: it fires the TC5 interrupt, sets the lead-off pins, connects and
// drops the gateway, and reads the frames the sketch sends.  What it cannot
// show is how the real chip and libraries behave; what it shows is that the
// sketch compiles, configures what it should, and moves samples into frames
// the way PROTOCOL.md says, through connections, stalls and failures.
//
// Built by tests/test_firmware.py from a copy of the sketch whose secrets.h
// is secrets.example.h (so a developer's own secrets.h plays no part):
//   g++ -std=c++11 -I firmware/tests/sim -I COPY -x c++ COPY/ecg_monitor.ino -x none
//       COPY/sampler.cpp COPY/watchdog.cpp firmware/tests/test_sketch.cpp
// free_memory.cpp is the one file of the sketch left out: here free_memory()
// reads the simulated heap instead.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "../ecg_monitor/config.h"
#include "../ecg_monitor/free_memory.h"
#include "../ecg_monitor/sampler.h"
#include "check.h"
#include "sim/Arduino.h"
#include "sim/WebSocketsClient.h"
#include "sim/WiFiNINA.h"
#include "secrets.h"  // the sketch copy's, made from secrets.example.h by the test

// ---- the simulated board ----
SimSerial Serial;
SimWiFi WiFi;
SimHeap sim_heap;
uint32_t free_memory() { return sim_heap.free(); }
static SimGclk gclk;
static SimPm pm;
static SimTc tc5;
static SimAdc adc;
static SimWdt wdt;
SimGclk* GCLK = &gclk;
SimPm* PM = &pm;
SimTc* TC5 = &tc5;
SimAdc* ADC = &adc;
SimWdt* WDT = &wdt;

namespace sim {
unsigned long now_ms = 0;
std::map<int, int> pin_level, pin_mode;
int adc_bits = 10;
int next_adc = 0;  // analogRead returns a ramp: 0, 1, 2, ... so each sample is recognisable
bool irq_enabled = false;
uint32_t irq_priority = 99;
int wdt_clears = 0;
}  // namespace sim

void pinMode(uint8_t pin, uint8_t mode) { sim::pin_mode[pin] = mode; }
void digitalWrite(uint8_t pin, uint8_t value) { sim::pin_level[pin] = value; }
int digitalRead(uint8_t pin) { return sim::pin_level[pin]; }
int analogRead(uint8_t) { return sim::next_adc++ % (1 << sim::adc_bits); }
void analogReadResolution(int bits) { sim::adc_bits = bits; }
unsigned long millis() { return sim::now_ms; }
long random(long max) { return max / 3; }
void randomSeed(unsigned long) {}
void NVIC_DisableIRQ(IRQn_Type) { sim::irq_enabled = false; }
void NVIC_ClearPendingIRQ(IRQn_Type) {}
void NVIC_SetPriority(IRQn_Type, uint32_t p) { sim::irq_priority = p; }
void NVIC_EnableIRQ(IRQn_Type) { sim::irq_enabled = true; }

// ---- the sketch's entry points and globals ----
void setup();
void loop();
extern "C" void TC5_Handler(void);
class GatewayLink;
extern GatewayLink g_link;
static WebSocketsClient& link() { return reinterpret_cast<WebSocketsClient&>(g_link); }

namespace {

struct Frame {
  uint32_t seq;
  uint8_t flags;
  std::vector<int> samples;
};

Frame parse(const std::vector<uint8_t>& f) {
  Frame out{0, 0, {}};
  CHECK(f.size() >= 12);
  CHECK_EQ(f[0], 0xEC);
  CHECK_EQ(f[1], 1);
  out.flags = f[2];
  out.seq = f[4] | (f[5] << 8) | (f[6] << 16) | (static_cast<uint32_t>(f[7]) << 24);
  const int count = f[8] | (f[9] << 8);
  CHECK_EQ(f.size(), 12u + 2u * count);
  for (int i = 0; i < count; ++i) out.samples.push_back(f[12 + 2 * i] | (f[13 + 2 * i] << 8));
  return out;
}

// One sampling period of the board: the interrupt fires, and every
// `loop_every` periods loop() runs.
void run_periods(int n, int loop_every = 1) {
  for (int i = 0; i < n; ++i) {
    TC5_Handler();
    sim::now_ms = (sim::now_ms * 360 + 1000) / 360;  // ~2.78 ms
    if (loop_every > 0 && i % loop_every == loop_every - 1) loop();
  }
}

std::vector<Frame> take_frames() {
  std::vector<Frame> out;
  for (const auto& f : link().sim_sent) out.push_back(parse(f));
  link().sim_sent.clear();
  return out;
}

bool booted = false;
void boot() {
  if (booted) return;
  booted = true;
  setup();
}

// Runs loop() once.  When the sketch resets the board through the watchdog,
// powers it up again as far as these tests need: the heap back at its boot
// size and setup() run again (on the board all RAM starts over; here the
// sketch's other globals keep their values).  Returns whether it reset.
bool loop_resets_the_board() {
  try {
    loop();
    return false;
  } catch (const SimWatchdogReset&) {
    sim_heap.power_on();
    setup();
    return true;
  }
}

}  // namespace

TEST(setup_configures_tc5_for_360_hz_the_adc_and_the_watchdog) {
  boot();
  const uint16_t ctrla = TC5->COUNT16.CTRLA.reg;
  CHECK(ctrla & TC_CTRLA_ENABLE);
  CHECK_EQ(ctrla & (0x3u << 5), TC_CTRLA_WAVEGEN_MFRQ);      // match frequency: period = CC0 + 1
  CHECK_EQ(ctrla & (0x7u << 8), TC_CTRLA_PRESCALER_DIV4);    // 48 MHz / 4 = 12 MHz
  CHECK_EQ(TC5->COUNT16.CC[0].reg, 33333 - 1);               // first period of 33333 ticks
  CHECK_EQ(TC5->COUNT16.INTENSET.reg, TC_INTENSET_MC0);
  CHECK_EQ(GCLK->CLKCTRL.reg & 0x3Fu, GCLK_CLKCTRL_ID_TC4_TC5);  // the last clock routed: TC5's
  CHECK(PM->APBCMASK.reg & PM_APBCMASK_TC5);
  CHECK(sim::irq_enabled);
  CHECK_EQ(sim::irq_priority, 1u);
  CHECK_EQ(sim::adc_bits, 12);
  CHECK_EQ(ADC->CTRLB.bit.PRESCALER, ADC_CTRLB_PRESCALER_DIV64_Val);
  CHECK_EQ(ADC->SAMPCTRL.reg, 5);
  CHECK_EQ(WDT->CONFIG.reg, WDT_CONFIG_PER_16K);
  CHECK(WDT->CTRL.reg & WDT_CTRL_ENABLE);
  CHECK_EQ(sim::pin_level[kPinShutdown], HIGH);  // AD8232 running
  CHECK_EQ(sim::pin_mode[kPinLeadOffPlus], INPUT);
  CHECK_EQ(WiFi.timeout, kWifiJoinTimeoutMs);
  CHECK(WiFi.feed != nullptr);
}

TEST(the_handshake_declares_the_stream_in_headers_without_a_subprotocol) {
  boot();
  CHECK(link().sim_url == "/v1/stream");
  CHECK(link().sim_protocol.empty());
  CHECK(link().sim_host == GATEWAY_HOST);
  CHECK_EQ(link().sim_port, GATEWAY_PORT);
  const std::string expected = std::string("X-ECG-Device: ") + ECG_DEVICE_ID + "\r\nX-ECG-Token: " + ECG_TOKEN +
                               "\r\nX-ECG-Rate: 360\r\nX-ECG-Bits: 12\r\nX-ECG-Leadoff: 1\r\nX-ECG-Format: batch";
  CHECK(link().sim_headers == expected);
  CHECK_EQ(link().sim_ping, kPingIntervalMs);
  CHECK_EQ(link().sim_missed, kMissedPongsToDrop);
}

TEST(the_interrupt_paces_periods_that_average_exactly_360_hz) {
  boot();
  uint64_t ticks = 0;
  for (int i = 0; i < 360; ++i) {
    ticks += TC5->COUNT16.CC[0].reg + 1u;  // the period now being counted
    TC5_Handler();
  }
  CHECK_EQ(ticks, 12000000u);  // 360 periods = exactly one second of the 12 MHz clock
  CHECK_EQ(TC5->COUNT16.INTFLAG.reg, TC_INTFLAG_MC0);  // the interrupt acknowledges itself
  g_samples.discard();
}

TEST(while_disconnected_samples_are_discarded_and_nothing_is_sent) {
  boot();
  run_periods(720);
  CHECK(take_frames().empty());
  CHECK_EQ(g_samples.size(), 0u);
  CHECK_EQ(WiFi.joins, 1);  // Wi-Fi joined once and stays up
}

TEST(a_connection_streams_36_sample_frames_from_sequence_number_0) {
  boot();
  link().sim_connect();
  const int first = sim::next_adc;  // the next sample the ADC gives
  run_periods(36 * 10 + 5);
  const std::vector<Frame> frames = take_frames();
  CHECK_EQ(frames.size(), 10u);
  for (size_t i = 0; i < frames.size(); ++i) {
    CHECK_EQ(frames[i].seq, i);
    CHECK_EQ(frames[i].samples.size(), 36u);
    CHECK_EQ(frames[i].flags, 0);
    CHECK_EQ(frames[i].samples[0], (first + 36 * static_cast<int>(i)) % 4096);
  }
  CHECK(Serial.out.find("gateway: connected, streaming") != std::string::npos);
  CHECK_EQ(sim::pin_level[LED_BUILTIN], HIGH);
}

TEST(lead_off_pins_set_the_flags_of_their_frame) {
  boot();
  take_frames();
  run_periods(31);
  sim::pin_level[kPinLeadOffMinus] = HIGH;  // RA off for one sample
  run_periods(1);
  sim::pin_level[kPinLeadOffMinus] = LOW;
  run_periods(36 * 2);
  const std::vector<Frame> frames = take_frames();
  CHECK(frames.size() >= 2);
  int flagged = 0;
  for (const Frame& f : frames) flagged += f.flags != 0;
  CHECK_EQ(flagged, 1);
}

TEST(a_stalled_sender_loses_samples_as_a_sequence_jump_not_a_splice) {
  boot();
  run_periods(36);
  std::vector<Frame> before = take_frames();
  CHECK(!before.empty());
  const uint32_t last_seq = before.empty() ? 0 : before.back().seq;
  const uint32_t dropped_before = g_samples.dropped();
  run_periods(kQueueSize + 100, 0);  // loop() held up: the queue overflows by 100 ...
  CHECK_EQ(g_samples.dropped() - dropped_before, 100u);
  run_periods(36 * 3);  // ... and by one more: the interrupt comes before loop() catches up
  const uint32_t lost = g_samples.dropped() - dropped_before;
  CHECK_EQ(lost, 101u);
  const std::vector<Frame> frames = take_frames();
  CHECK(!frames.empty());
  // the samples within each frame are consecutive ADC readings
  bool consecutive = true;
  uint32_t jumps = 0, prev = last_seq;
  for (const Frame& f : frames) {
    for (size_t i = 1; i < f.samples.size(); ++i) consecutive = consecutive && f.samples[i] == (f.samples[i - 1] + 1) % 4096;
    if (f.seq != prev + 1) {
      ++jumps;
      CHECK_EQ(f.seq - prev - 1, (lost + 35u) / 36u);  // the frames the lost samples would have filled
    }
    prev = f.seq;
  }
  CHECK(consecutive);
  CHECK_EQ(jumps, 1u);
}

TEST(a_frame_that_cannot_be_sent_takes_its_sequence_number_with_it) {
  boot();
  run_periods(36);
  const std::vector<Frame> before = take_frames();
  CHECK_EQ(before.size(), 1u);
  link().sim_refuse_sends = true;
  run_periods(36);  // one frame, refused
  link().sim_refuse_sends = false;
  run_periods(36 * 2);
  const std::vector<Frame> frames = take_frames();
  CHECK_EQ(frames.size(), 2u);
  if (before.size() == 1 && frames.size() == 2) {
    CHECK_EQ(frames[0].seq, before[0].seq + 2);  // the refused frame's number is not reused
    CHECK_EQ(frames[1].seq, frames[0].seq + 1);
  }
}

TEST(the_gateways_error_answers_are_shown_on_the_serial_monitor) {
  boot();
  link().sim_text("{\"error\":\"bad magic 0x00, expected 0xEC\",\"seq\":null}");
  CHECK(Serial.out.find("gateway says: {\"error\":\"bad magic") != std::string::npos);
}

TEST(a_reconnection_starts_a_new_stream_at_sequence_number_0) {
  boot();
  link().sim_disconnect(sim::now_ms);
  run_periods(360);
  CHECK(take_frames().empty());
  link().sim_connect();
  run_periods(36 * 2);
  const std::vector<Frame> frames = take_frames();
  CHECK(!frames.empty());
  CHECK_EQ(frames[0].seq, 0u);
  CHECK_EQ(frames[0].samples.size(), 36u);
}

TEST(failed_connects_lengthen_the_retry_interval_and_a_connection_resets_it) {
  boot();
  link().sim_disconnect(sim::now_ms);
  std::vector<unsigned long> waits;
  for (int i = 0; i < 8; ++i) {
    sim::now_ms += 1000;
    link().sim_failed_connect(sim::now_ms);  // a refused TCP connect: no event, only the time
    loop();
    waits.push_back(link().sim_reconnect_interval);
  }
  for (size_t i = 1; i < waits.size(); ++i) CHECK(waits[i] >= waits[i - 1]);
  CHECK(waits.front() >= kLinkRetryFirstMs && waits.front() <= kLinkRetryFirstMs * 5 / 4);
  CHECK(waits.back() >= kLinkRetryMaxMs && waits.back() <= kLinkRetryMaxMs * 5 / 4);
  link().sim_connect();
  CHECK_EQ(link().sim_reconnect_interval, kLinkRetryFirstMs);
}

TEST(a_status_line_reports_the_counters) {
  boot();
  sim::now_ms += kStatusIntervalMs + 1;
  loop();
  CHECK(Serial.out.find("status: wifi=up rssi=-55 gateway=up") != std::string::npos);
  CHECK(Serial.out.find("dropped_queue_full=" + std::to_string(g_samples.dropped()) + " ") != std::string::npos);
  CHECK(Serial.out.find("send_failures=1 ") != std::string::npos);
  CHECK(Serial.out.find("gateway_errors=1 ") != std::string::npos);
  CHECK(Serial.out.find(" free_memory=" + std::to_string(sim_heap.free()) + "\n") != std::string::npos);
}

TEST(ten_thousand_reconnections_never_run_the_heap_into_the_stack) {
  boot();
  CHECK(link().isConnected());
  const uint32_t cycles = 10000;
  CHECK(cycles * kSimWiFiClientBytes > 10 * sim_heap.free_at_boot);  // far more than the board has
  link().sim_attempt = [] { link().sim_connect(); };                 // the library reconnects at once
  uint32_t restarts = 0, lowest = sim_heap.free();
  for (uint32_t i = 0; i < cycles; ++i) {
    sim::now_ms += 1000;
    link().sim_disconnect(sim::now_ms);
    const uint32_t before = sim_heap.free();
    if (loop_resets_the_board()) {
      // at the first drop with less than the floor left, not before
      CHECK(before < kRestartBelowFreeBytes && before + kSimWiFiClientBytes >= kRestartBelowFreeBytes);
      CHECK_EQ(sim_heap.free(), sim_heap.free_at_boot);
      ++restarts;
      loop();  // the fresh board's first connection
    }
    CHECK(link().isConnected());
    lowest = std::min(lowest, sim_heap.free());
  }
  link().sim_attempt = nullptr;
  CHECK(!sim_heap.exhausted);
  CHECK(lowest + kSimWiFiClientBytes >= kRestartBelowFreeBytes);
  // Every boot but the first (which began with a less fresh heap) lasts the same number of cycles.
  const uint32_t cycles_per_boot = (sim_heap.free_at_boot - kRestartBelowFreeBytes) / kSimWiFiClientBytes + 1;
  CHECK(restarts >= cycles / cycles_per_boot && restarts <= cycles / cycles_per_boot + 1);
  CHECK(Serial.out.find(" bytes of memory left\n") != std::string::npos);
  std::printf("leak: %u reconnections, %u restarts, lowest free memory %u of %u bytes\n", cycles, restarts,
              lowest, sim_heap.free_at_boot);
}

TEST(a_run_of_link_failures_restarts_the_board_before_the_heap_runs_short) {
  boot();
  link().sim_connect();
  link().sim_disconnect(sim::now_ms);  // the first failure of the run ...
  loop();                              // ... as the sketch sees it
  uint32_t attempts = 0;
  link().sim_attempt = [&attempts] {  // the gateway is down: every reconnect is refused
    ++attempts;
    link().sim_failed_connect(sim::now_ms);
  };
  const uint32_t free_at_drop = sim_heap.free();
  bool reset = false;
  while (!reset && attempts < 2 * kRestartAfterLinkFailures) {
    sim::now_ms += kLinkRetryMaxMs * 5 / 4;
    reset = loop_resets_the_board();
  }
  link().sim_attempt = nullptr;
  CHECK(reset);
  CHECK_EQ(attempts, kRestartAfterLinkFailures - 1);  // with the drop, the failures the policy allows
  CHECK(Serial.out.find("restart: " + std::to_string(kRestartAfterLinkFailures) + " link failures in a row\n") !=
        std::string::npos);
  CHECK(free_at_drop - attempts * kSimWiFiClientBytes >= kRestartBelowFreeBytes);  // memory was not the reason
  CHECK_EQ(sim_heap.free(), sim_heap.free_at_boot);
}

int main() { return check::run_all(); }
