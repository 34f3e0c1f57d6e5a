// config.h - what the kit is: pins, sample rate, batch size, queue size.
// Site-specific values (Wi-Fi, gateway address, device id, token) live in
// secrets.h, made from secrets.example.h.
#ifndef ECG_CONFIG_H
#define ECG_CONFIG_H

#include <stdint.h>

// AD8232 breakout -> Nano 33 IoT (firmware/README.md has the wiring table).
const uint8_t kPinLeadOffPlus = 10;   // AD8232 LO+: high while the +IN electrode is off
const uint8_t kPinLeadOffMinus = 11;  // AD8232 LO-: high while the -IN electrode is off
const uint8_t kPinShutdown = 9;       // AD8232 SDN: driven high (running); low would power it down
// The ECG itself is on A0 (sampler.cpp); A0 is a macro of the board core.

// Stream declared at the handshake (PROTOCOL.md section 1); macros because
// the handshake headers are built from them at compile time.
#define ECG_RATE_HZ 360  // the MIT-BIH rate the whole chain runs at
#define ECG_ADC_BITS 12  // analogReadResolution(12): counts 0..4095
const uint32_t kSampleRateHz = ECG_RATE_HZ;
const uint8_t kAdcBits = ECG_ADC_BITS;
const uint16_t kBatch = 36;          // samples per frame: 100 ms, 84-byte frames

// TC5 counts GCLK0 (48 MHz) through its DIV4 prescaler (sampler.cpp).
const uint32_t kTimerClockHz = 48000000u / 4u;
static_assert(kTimerClockHz / kSampleRateHz - 1 <= 0xFFFFu, "sample period must fit TC5's 16-bit compare");

// Samples the interrupt can queue while the sender is held up (Wi-Fi
// retransmissions, a slow TCP window): 1024 x 6 bytes = 6 KiB, 2.8 s.
const uint32_t kQueueSize = 1024;

// Reconnect back-off (backoff.h) and the WebSocket keep-alive.
const uint32_t kWifiRetryFirstMs = 2000;
const uint32_t kWifiRetryMaxMs = 60000;
const uint32_t kWifiJoinTimeoutMs = 10000;  // WiFi.begin() blocks at most this long
const uint32_t kLinkRetryFirstMs = 500;
const uint32_t kLinkRetryMaxMs = 30000;
const uint32_t kPingIntervalMs = 15000;  // ping the gateway every 15 s,
const uint32_t kPongTimeoutMs = 3000;    // expect the pong within 3 s,
const uint8_t kMissedPongsToDrop = 2;    // and reconnect after 2 missed pongs

const uint32_t kStatusIntervalMs = 10000;  // a status line on the serial monitor

// Self-restart (restart.h) against the library's leak of ~32 bytes per
// connect attempt.  The floor is an estimate, not measured on a board: a
// handshake's transient Strings should need under 1 KB of heap, and the
// deepest library call with the TC5 interrupt on top of it about as much
// stack; 4 KB leaves twice that.  The status line's free_memory= shows what
// a kit really has.  120 link failures in a row are about an hour of an
// unreachable gateway at the 30 s back-off, and leak at most 3.8 KB.
const uint32_t kRestartBelowFreeBytes = 4096;
const uint32_t kRestartAfterLinkFailures = 120;

#endif  // ECG_CONFIG_H
