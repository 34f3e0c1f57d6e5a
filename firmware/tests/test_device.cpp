// Host unit tests of the sketch's portable helpers:
// firmware/ecg_monitor/pacer.h, backoff.h and restart.h.
#include <cstdint>

#include "../ecg_monitor/backoff.h"
#include "../ecg_monitor/pacer.h"
#include "../ecg_monitor/restart.h"
#include "check.h"

TEST(pacer_gives_exactly_360_hz_from_the_12_mhz_timer_clock) {
  RatePacer pacer(12000000u, 360u);
  uint64_t ticks = 0;
  uint32_t shortest = UINT32_MAX, longest = 0;
  for (int i = 0; i < 360 * 3600; ++i) {  // one hour of samples
    const uint32_t p = pacer.next_period();
    ticks += p;
    shortest = p < shortest ? p : shortest;
    longest = p > longest ? p : longest;
  }
  CHECK_EQ(ticks, 12000000ull * 3600u);  // exactly one hour of timer ticks
  CHECK_EQ(shortest, 33333u);
  CHECK_EQ(longest, 33334u);  // 1 tick (83 ns) of jitter at most
  CHECK(longest - 1 <= 0xFFFFu);  // the compare value fits TC5's 16 bits
}

TEST(pacer_spreads_the_remainder_evenly) {
  RatePacer pacer(12000000u, 360u);
  // remainder 120 of 360: every third period is one tick longer
  for (int i = 0; i < 30; ++i) CHECK_EQ(pacer.next_period(), (i % 3 == 2) ? 33334u : 33333u);
}

TEST(pacer_with_an_exact_divisor_never_adjusts) {
  RatePacer pacer(1000u, 250u);
  for (int i = 0; i < 10; ++i) CHECK_EQ(pacer.next_period(), 4u);
}

TEST(backoff_doubles_up_to_its_ceiling) {
  Backoff b(500, 30000);
  const uint32_t expected[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (uint32_t e : expected) CHECK_EQ(b.next_ms(0), e);
}

TEST(backoff_jitter_adds_at_most_a_quarter) {
  Backoff b(1000, 1000);
  for (uint32_t entropy = 0; entropy < 2000; ++entropy) {
    const uint32_t d = b.next_ms(entropy);
    CHECK(d >= 1000 && d <= 1250);
  }
}

TEST(backoff_reset_starts_over) {
  Backoff b(500, 30000);
  b.next_ms(0);
  b.next_ms(0);
  b.reset();
  CHECK_EQ(b.next_ms(0), 500u);
}

TEST(restart_when_free_memory_falls_below_the_floor) {
  const RestartPolicy policy(4096, 120);
  CHECK_EQ(policy.due(20000), RestartPolicy::kNone);
  CHECK_EQ(policy.due(4096), RestartPolicy::kNone);
  CHECK_EQ(policy.due(4095), RestartPolicy::kLowMemory);
  CHECK_EQ(policy.due(0), RestartPolicy::kLowMemory);
}

TEST(restart_after_a_run_of_link_failures_and_a_connection_ends_the_run) {
  RestartPolicy policy(4096, 3);
  policy.link_failed();
  policy.link_failed();
  CHECK_EQ(policy.due(20000), RestartPolicy::kNone);
  policy.link_up();
  policy.link_failed();
  policy.link_failed();
  CHECK_EQ(policy.due(20000), RestartPolicy::kNone);
  policy.link_failed();
  CHECK_EQ(policy.link_failures(), 3u);
  CHECK_EQ(policy.due(20000), RestartPolicy::kLinkFailures);
  CHECK_EQ(policy.due(100), RestartPolicy::kLowMemory);  // the more urgent reason is named
}

int main() { return check::run_all(); }
