// backoff.h - exponential back-off with jitter for reconnecting.
//
// After a gateway restart every kit in the house retries at once; doubling
// the wait after each failure (up to a ceiling) and adding up to 25 %
// jitter spreads them out and keeps a dead network from being hammered.
// Portable C++11, unit-tested on the host (firmware/tests/test_device.cpp).
#ifndef ECG_BACKOFF_H
#define ECG_BACKOFF_H

#include <stdint.h>

class Backoff {
 public:
  Backoff(uint32_t first_ms, uint32_t max_ms) : first_(first_ms), max_(max_ms), current_(first_ms) {}

  // Wait before the next attempt: the current step plus `entropy` modulo a
  // quarter of it; then the step doubles, up to the ceiling.
  uint32_t next_ms(uint32_t entropy) {
    const uint32_t step = current_;
    current_ = (current_ >= max_ / 2) ? max_ : current_ * 2;
    return step + entropy % (step / 4 + 1);
  }

  // A success: the next failure waits the first step again.
  void reset() { current_ = first_; }

 private:
  const uint32_t first_;
  const uint32_t max_;
  uint32_t current_;
};

#endif  // ECG_BACKOFF_H
