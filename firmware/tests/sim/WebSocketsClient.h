// WebSocketsClient.h for the host simulation: the arduinoWebSockets client
// API the sketch uses (same signatures as Links2004/arduinoWebSockets 2.5),
// with the test in charge of connecting, failing and disconnecting.  Like
// the library on WiFiNINA boards, every connect attempt takes a WiFiClient
// from the heap that is never freed.
#ifndef SIM_WEBSOCKETSCLIENT_H
#define SIM_WEBSOCKETSCLIENT_H

#include <functional>
#include <string>
#include <vector>

#include "Arduino.h"

// What the leak costs per connect attempt: about 32 bytes (the WiFiClient
// and malloc's bookkeeping), as the build for the board found.
const uint32_t kSimWiFiClientBytes = 32;

typedef enum {
  WStype_ERROR,
  WStype_DISCONNECTED,
  WStype_CONNECTED,
  WStype_TEXT,
  WStype_BIN,
  WStype_FRAGMENT_TEXT_START,
  WStype_FRAGMENT_BIN_START,
  WStype_FRAGMENT,
  WStype_FRAGMENT_FIN,
  WStype_PING,
  WStype_PONG,
} WStype_t;

class WebSocketsClient {
 public:
  typedef std::function<void(WStype_t type, uint8_t* payload, size_t length)> WebSocketClientEvent;

  void begin(const char* host, uint16_t port, const char* url = "/", const char* protocol = "arduino") {
    sim_host = host;
    sim_port = port;
    sim_url = url;
    sim_protocol = protocol;
  }
  void onEvent(WebSocketClientEvent cb) { cb_ = cb; }
  bool sendBIN(const uint8_t* payload, size_t length) {
    if (!connected_ || sim_refuse_sends) return false;
    sim_sent.push_back(std::vector<uint8_t>(payload, payload + length));
    return true;
  }
  void setExtraHeaders(const char* headers) { sim_headers = headers; }
  void setReconnectInterval(unsigned long ms) { sim_reconnect_interval = ms; }
  void enableHeartbeat(uint32_t ping, uint32_t pong, uint8_t missed) {
    sim_ping = ping;
    sim_pong = pong;
    sim_missed = missed;
  }
  bool isConnected() { return connected_; }
  // The library attempts its connects in here; a test that sets sim_attempt
  // says what such an attempt does.
  void loop() {
    ++sim_loops;
    if (!connected_ && sim_attempt) sim_attempt();
  }

  // ---- test controls ----
  // A connect attempt that succeeds (sim_connect) or is refused (sim_failed_connect).
  void sim_connect() {
    sim_heap.allocate(kSimWiFiClientBytes);
    connected_ = true;
    _lastConnectionFail = 0;
    cb_(WStype_CONNECTED, nullptr, 0);
  }
  void sim_disconnect(unsigned long now_ms) {
    connected_ = false;
    _lastConnectionFail = now_ms;
    cb_(WStype_DISCONNECTED, nullptr, 0);
  }
  void sim_failed_connect(unsigned long now_ms) {
    sim_heap.allocate(kSimWiFiClientBytes);
    _lastConnectionFail = now_ms;  // no event, as in the library
  }
  void sim_text(const std::string& text) {
    std::vector<uint8_t> buf(text.begin(), text.end());
    cb_(WStype_TEXT, buf.data(), buf.size());
  }

  std::string sim_host, sim_url, sim_protocol, sim_headers;
  uint16_t sim_port = 0;
  unsigned long sim_reconnect_interval = 0;
  uint32_t sim_ping = 0, sim_pong = 0;
  uint8_t sim_missed = 0;
  bool sim_refuse_sends = false;
  int sim_loops = 0;
  std::function<void()> sim_attempt;
  std::vector<std::vector<uint8_t>> sim_sent;

 protected:
  unsigned long _lastConnectionFail = 0;

 private:
  WebSocketClientEvent cb_;
  bool connected_ = false;
};

#endif  // SIM_WEBSOCKETSCLIENT_H
