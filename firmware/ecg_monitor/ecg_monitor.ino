// ecg_monitor.ino - AD8232 ECG front end on an Arduino Nano 33 IoT, streaming
// to the ecg-gateway on the Raspberry Pi over WebSocket (firmware/PROTOCOL.md
// v1, batched binary form).
//
//   TC5 interrupt, 360 Hz ──> SampleQueue (lock-free) ──> loop(): FrameBuilder
//   (sampler.cpp)             (ecg_protocol.h)             36 samples/frame ──> sendBIN
//
// loop() keeps Wi-Fi and the WebSocket up (exponential back-off with jitter,
// keep-alive pings), moves samples from the queue into frames, and feeds the
// watchdog.  While there is no connection the samples are discarded: each
// connection starts a fresh stream at sequence number 0, which the gateway
// treats as a gap.  A sample dropped because the queue was full makes the
// sequence number jump, so the gateway never splices across a hole.  The
// library leaks memory on every connect attempt; the sketch restarts itself
// through the watchdog before that can hang it (restart.h).
//
// firmware/README.md: wiring, electrodes, libraries, building and flashing.

// WiFiNINA before WebSocketsClient: the Arduino builder puts a library on
// the include path when the sketch first includes it, and WebSockets.h picks
// its network with __has_include(<WiFiNINA.h>).  The other way round it sees
// no WiFiNINA and stops at '#error "Please install WiFiNINA library!"'.
#include <WiFiNINA.h>
#include <WebSocketsClient.h>

#include "backoff.h"
#include "config.h"
#include "ecg_protocol.h"
#include "free_memory.h"
#include "restart.h"
#include "sampler.h"
#include "secrets.h"
#include "watchdog.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

// The stream declaration (PROTOCOL.md section 1), sent as headers so the
// token never appears in a URL that proxies or logs might keep.
const char kHandshakeHeaders[] =
    "X-ECG-Device: " ECG_DEVICE_ID "\r\n"
    "X-ECG-Token: " ECG_TOKEN "\r\n"
    "X-ECG-Rate: " STRINGIFY(ECG_RATE_HZ) "\r\n"
    "X-ECG-Bits: " STRINGIFY(ECG_ADC_BITS) "\r\n"
    "X-ECG-Leadoff: 1\r\n"
    "X-ECG-Format: batch";

// WebSocketsClient retries a failed connect after a fixed interval, and a
// refused TCP connect raises no event; the time of the last failure, which
// it keeps in a protected member, is the one sign of every failed attempt.
// Reading it lets the back-off grow on each failure of any kind.
class GatewayLink : public WebSocketsClient {
 public:
  unsigned long last_failure_ms() const { return _lastConnectionFail; }
};

struct Counters {
  uint32_t frames_sent;
  uint32_t send_failures;
  uint32_t discarded_offline;  // samples taken while not connected
  uint32_t connections;
  uint32_t gateway_errors;     // {"error": ...} answers from the gateway
};

GatewayLink g_link;
ecg::FrameBuilder<kBatch> g_frames(kBatch);
Backoff g_wifi_backoff(kWifiRetryFirstMs, kWifiRetryMaxMs);
Backoff g_link_backoff(kLinkRetryFirstMs, kLinkRetryMaxMs);
RestartPolicy g_restart(kRestartBelowFreeBytes, kRestartAfterLinkFailures);
Counters g_count = {0, 0, 0, 0, 0};
uint32_t g_wifi_next_try_ms = 0;
unsigned long g_seen_failure_ms = 0;
uint32_t g_next_status_ms = 0;

void on_link_event(WStype_t type, uint8_t* payload, size_t length) {
  switch (type) {
    case WStype_CONNECTED:
      // This connection's stream starts with the next sample taken.
      g_count.discarded_offline += g_samples.discard();
      g_frames.start_connection();
      g_link_backoff.reset();
      g_link.setReconnectInterval(kLinkRetryFirstMs);
      g_restart.link_up();
      ++g_count.connections;
      digitalWrite(LED_BUILTIN, HIGH);
      Serial.println(F("gateway: connected, streaming"));
      break;
    case WStype_DISCONNECTED:
      digitalWrite(LED_BUILTIN, LOW);
      Serial.println(F("gateway: disconnected"));
      break;
    case WStype_TEXT:
      ++g_count.gateway_errors;
      Serial.print(F("gateway says: "));
      Serial.write(payload, length);
      Serial.println();
      break;
    default:
      break;
  }
}

// Joins the Wi-Fi network if needed, no more often than the back-off allows.
bool wifi_ready() {
  if (WiFi.status() == WL_CONNECTED) return true;
  if (static_cast<int32_t>(millis() - g_wifi_next_try_ms) < 0) return false;
  Serial.print(F("wifi: joining " WIFI_SSID " ... "));
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  if (WiFi.status() == WL_CONNECTED) {
    g_wifi_backoff.reset();
    Serial.print(F("ok, ip "));
    Serial.println(WiFi.localIP());
    return true;
  }
  const uint32_t wait = g_wifi_backoff.next_ms(static_cast<uint32_t>(random(0x7FFFFFFF)));
  g_wifi_next_try_ms = millis() + wait;
  Serial.print(F("failed, next try in "));
  Serial.print(wait);
  Serial.println(F(" ms"));
  return false;
}

// Lengthens the library's retry interval after every failure (a drop, a
// refused connect, a failed handshake), and counts it towards a restart.
void grow_link_backoff() {
  const unsigned long failed_at = g_link.last_failure_ms();
  if (failed_at == 0 || failed_at == g_seen_failure_ms || g_link.isConnected()) return;
  g_seen_failure_ms = failed_at;
  g_link.setReconnectInterval(g_link_backoff.next_ms(static_cast<uint32_t>(random(0x7FFFFFFF))));
  g_restart.link_failed();
}

// Restarts the board when restart.h says so, only while the gateway link is
// down: never in the middle of a stream, and before the next connect attempt
// leaks more.  The gateway sees the drop and later a new connection from
// sequence number 0: a gap, never a splice.  (The reason printed may not
// reach a USB host before the reset.)
void restart_if_due() {
  if (g_link.isConnected()) return;
  const uint32_t free_bytes = free_memory();
  const RestartPolicy::Reason why = g_restart.due(free_bytes);
  if (why == RestartPolicy::kNone) return;
  Serial.print(F("restart: "));
  if (why == RestartPolicy::kLowMemory) {
    Serial.print(free_bytes);
    Serial.println(F(" bytes of memory left"));
  } else {
    Serial.print(g_restart.link_failures());
    Serial.println(F(" link failures in a row"));
  }
  watchdog_restart();
}

// Moves queued samples into frames and sends each completed frame.  Bounded
// to one queue's worth per call so that pings and the gateway's answers are
// still handled when the queue is full.
void pump_samples() {
  if (!g_link.isConnected()) {
    g_count.discarded_offline += g_samples.discard();
    return;
  }
  ecg::Sample s = ecg::Sample();
  for (uint32_t n = 0; n < kQueueSize && g_samples.take(s); ++n) {
    if (!g_frames.add(s)) continue;
    // A frame that cannot be sent is lost with its sequence number, so the
    // next frame's number jumps and the gateway counts the gap.
    if (g_link.sendBIN(g_frames.frame(), g_frames.frame_size())) {
      ++g_count.frames_sent;
    } else {
      ++g_count.send_failures;
    }
  }
}

void print_status() {
  if (static_cast<int32_t>(millis() - g_next_status_ms) < 0) return;
  g_next_status_ms = millis() + kStatusIntervalMs;
  Serial.print(F("status: wifi="));
  Serial.print(WiFi.status() == WL_CONNECTED ? F("up") : F("down"));
  Serial.print(F(" rssi="));
  Serial.print(WiFi.RSSI());
  Serial.print(F(" gateway="));
  Serial.print(g_link.isConnected() ? F("up") : F("down"));
  Serial.print(F(" connections="));
  Serial.print(g_count.connections);
  Serial.print(F(" frames="));
  Serial.print(g_count.frames_sent);
  Serial.print(F(" send_failures="));
  Serial.print(g_count.send_failures);
  Serial.print(F(" dropped_queue_full="));
  Serial.print(g_samples.dropped());
  Serial.print(F(" discarded_offline="));
  Serial.print(g_count.discarded_offline);
  Serial.print(F(" gateway_errors="));
  Serial.print(g_count.gateway_errors);
  Serial.print(F(" queue="));
  Serial.print(g_samples.size());
  Serial.print('/');
  Serial.print(kQueueSize);
  Serial.print(F(" free_memory="));
  Serial.println(free_memory());
}

void setup() {
  Serial.begin(115200);  // USB serial: never waited for, the kit runs without a computer
  pinMode(LED_BUILTIN, OUTPUT);
  digitalWrite(LED_BUILTIN, LOW);
  watchdog_begin();

  if (WiFi.status() == WL_NO_MODULE) {
    Serial.println(F("wifi: no NINA module found; the watchdog will reset the board"));
    for (;;) {
    }
  }
  WiFi.setTimeout(kWifiJoinTimeoutMs);
  WiFi.setFeedWatchdogFunc(watchdog_feed);

  g_link.begin(GATEWAY_HOST, GATEWAY_PORT, "/v1/stream", "");
  g_link.setExtraHeaders(kHandshakeHeaders);
  g_link.onEvent(on_link_event);
  g_link.setReconnectInterval(kLinkRetryFirstMs);
  g_link.enableHeartbeat(kPingIntervalMs, kPongTimeoutMs, kMissedPongsToDrop);
  // After begin(), which seeds with millis() - the same on every kit at
  // boot: the MAC makes each kit's back-off jitter and handshake keys differ.
  uint8_t mac[6];
  WiFi.macAddress(mac);
  randomSeed((static_cast<uint32_t>(mac[2]) << 24) | (static_cast<uint32_t>(mac[3]) << 16) |
             (static_cast<uint32_t>(mac[4]) << 8) | mac[5]);

  sampler_begin();
  Serial.println(F("ecg_monitor: sampling at " STRINGIFY(ECG_RATE_HZ) " Hz as " ECG_DEVICE_ID));
}

void loop() {
  watchdog_feed();
  restart_if_due();
  if (wifi_ready()) {
    g_link.loop();
    grow_link_backoff();
  }
  pump_samples();
  print_status();
}
