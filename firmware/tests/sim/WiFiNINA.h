// WiFiNINA.h for the host simulation: the calls the sketch makes.
#ifndef SIM_WIFININA_H
#define SIM_WIFININA_H

#include "Arduino.h"

#define WL_CONNECTED 3
#define WL_CONNECT_FAILED 4
#define WL_NO_MODULE 255

struct SimWiFi {
  uint8_t state = WL_CONNECT_FAILED;
  bool join_succeeds = true;
  int joins = 0;
  unsigned long timeout = 0;
  void (*feed)() = nullptr;

  uint8_t status() { return state; }
  int begin(const char*, const char*) {
    ++joins;
    if (feed) feed();
    state = join_succeeds ? WL_CONNECTED : WL_CONNECT_FAILED;
    return state;
  }
  void setTimeout(unsigned long ms) { timeout = ms; }
  void setFeedWatchdogFunc(void (*f)()) { feed = f; }
  IPAddress localIP() { return IPAddress{{192, 168, 1, 77}}; }
  int32_t RSSI() { return -55; }
  uint8_t* macAddress(uint8_t* mac) {
    for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(0x10 + i);
    return mac;
  }
};
extern SimWiFi WiFi;

#endif  // SIM_WIFININA_H
