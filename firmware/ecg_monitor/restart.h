// restart.h - when the kit restarts itself, before a slow leak can hang it.
//
// On WiFiNINA boards arduinoWebSockets makes a new WiFiClient for every
// connect attempt and never frees the old one (WebSocketsClient.cpp: "does
// not support delete"): about 32 bytes of heap per attempt, failed or not.
// With Wi-Fi up and the gateway down, one attempt every 30 s uses up the
// ~21 KB between the heap and the stack in about 5 hours, and the core's
// _sbrk never checks the heap against the stack: the board would corrupt
// memory or fault, not fail cleanly.  Only a reset gives the memory back, so
// the sketch resets on purpose while there is margin left: when free memory
// falls below a floor, or after a bounded run of link failures (which also
// bounds the leak should the measurement be off, and restarts the NINA
// module, which WiFiNINA resets at start-up).
// Portable C++11, unit-tested on the host (firmware/tests/test_device.cpp).
#ifndef ECG_RESTART_H
#define ECG_RESTART_H

#include <stdint.h>

class RestartPolicy {
 public:
  enum Reason { kNone, kLowMemory, kLinkFailures };

  RestartPolicy(uint32_t min_free_bytes, uint32_t max_link_failures)
      : min_free_(min_free_bytes), max_failures_(max_link_failures), failures_(0) {}

  // A dropped connection, a refused connect or a failed handshake.
  void link_failed() { ++failures_; }
  // A connection: the failures in a row start over.
  void link_up() { failures_ = 0; }

  // Whether to restart now, with `free_bytes` of memory left.
  Reason due(uint32_t free_bytes) const {
    if (free_bytes < min_free_) return kLowMemory;
    if (failures_ >= max_failures_) return kLinkFailures;
    return kNone;
  }

  uint32_t link_failures() const { return failures_; }

 private:
  const uint32_t min_free_;
  const uint32_t max_failures_;
  uint32_t failures_;
};

#endif  // ECG_RESTART_H
