// pacer.h - timer periods that average exactly to a sample rate.
//
// The Nano 33 IoT's timers run from the 48 MHz main clock, and 48 MHz is
// not a whole multiple of 360 Hz (48e6 / 360 = 133333.33...): no prescaler
// and compare value give exactly 360 Hz; rounding to 33333 ticks would run
// 10 ppm fast (0.9 s a day), on top of the clock's own error.  RatePacer spreads
// the remainder like Bresenham's line algorithm: with TC5 counting at
// 48 MHz / 4 = 12 MHz, 12e6 / 360 = 33333 remainder 120, so the periods are
// 33333, 33333, 33334 ticks, repeated: exactly 100000 ticks (8.333... ms)
// per 3 samples, i.e. 360 Hz on average, with 1 tick (83 ns) of jitter.
// Portable C++11, unit-tested on the host (firmware/tests/test_device.cpp).
#ifndef ECG_PACER_H
#define ECG_PACER_H

#include <stdint.h>

class RatePacer {
 public:
  // `rate_hz` must be 1..clock_hz; the sketch checks its constants at compile time.
  RatePacer(uint32_t clock_hz, uint32_t rate_hz)
      : base_(clock_hz / rate_hz), remainder_(clock_hz % rate_hz), rate_(rate_hz), acc_(0) {}

  // Length in timer ticks of the next sample period.
  uint32_t next_period() {
    acc_ += remainder_;
    if (acc_ >= rate_) {
      acc_ -= rate_;
      return base_ + 1;
    }
    return base_;
  }

 private:
  const uint32_t base_;
  const uint32_t remainder_;
  const uint32_t rate_;
  uint32_t acc_;
};

#endif  // ECG_PACER_H
