// Arduino.h for the host simulation of the sketch (firmware/tests/test_sketch.cpp).
//
// Just enough of the Arduino core and of the SAMD21 registers the sketch
// touches, with the same names, so that ecg_monitor.ino, sampler.cpp and
// watchdog.cpp compile unchanged on the host and can be driven by a test.
// Register fields are plain variables (no hardware behind them): a test
// reads what the sketch wrote.  Values of the register constants follow the
// SAMD21 datasheet, so a wrong field or constant shows in the test.
#ifndef SIM_ARDUINO_H
#define SIM_ARDUINO_H

#include <cstddef>
#include <cstdint>
#include <string>

#define HIGH 1
#define LOW 0
#define INPUT 0
#define OUTPUT 1
#define LED_BUILTIN 13
#define A0 14

void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
int digitalRead(uint8_t pin);
int analogRead(uint8_t pin);
void analogReadResolution(int bits);
unsigned long millis();
long random(long max);
void randomSeed(unsigned long seed);

class __FlashStringHelper;
#define F(s) (reinterpret_cast<const __FlashStringHelper*>(s))

struct IPAddress {
  uint8_t octets[4];
};

// Serial: everything printed is appended to `out`.
struct SimSerial {
  std::string out;
  void begin(long) {}
  void print(const __FlashStringHelper* s) { out += reinterpret_cast<const char*>(s); }
  void print(const char* s) { out += s; }
  void print(char c) { out += c; }
  void print(const IPAddress& ip) {
    for (int i = 0; i < 4; ++i) out += (i ? "." : "") + std::to_string(ip.octets[i]);
  }
  template <typename T>
  void print(T v) { out += std::to_string(v); }
  template <typename T>
  void println(T v) {
    print(v);
    out += "\n";
  }
  void println() { out += "\n"; }
  size_t write(const uint8_t* data, size_t n) {
    out.append(reinterpret_cast<const char*>(data), n);
    return n;
  }
};
extern SimSerial Serial;

// RAM between the heap and the stack, as free_memory() measures it on the
// board: what is allocated and never freed moves the heap's top up for good,
// until a reset.  The build for the board leaves 21,468 of the 32 KB
// for heap and stack; less what the libraries allocate in setup() and the
// stack loop() runs on, taken here as 20 KB.
struct SimHeap {
  uint32_t free_at_boot = 20 * 1024;
  uint32_t used = 0;
  bool exhausted = false;  // the heap ran into the stack: the board would corrupt memory

  uint32_t free() const { return used < free_at_boot ? free_at_boot - used : 0; }
  void allocate(uint32_t bytes) {
    exhausted = exhausted || bytes > free();
    used += bytes;
  }
  void power_on() { used = 0; }
};
extern SimHeap sim_heap;

// ---- SAMD21 registers used by sampler.cpp and watchdog.cpp ----
struct SyncBit { uint8_t SYNCBUSY = 0; };
struct SimGclk {
  struct { uint16_t reg = 0; } CLKCTRL;
  struct { uint32_t reg = 0; } GENDIV, GENCTRL;
  struct { SyncBit bit; } STATUS;
};
struct SimPm { struct { uint32_t reg = 0; } APBCMASK; };
struct SimTcCount16 {
  struct { uint16_t reg = 0; struct { uint8_t SWRST = 0; } bit; } CTRLA;
  struct { SyncBit bit; } STATUS;
  struct { uint16_t reg = 0; } CC[2];
  struct { uint8_t reg = 0; } INTENSET, INTFLAG;
};
struct SimTc { SimTcCount16 COUNT16; };
struct SimAdc {
  struct { uint16_t reg = 0; struct { uint8_t PRESCALER = 7; } bit; } CTRLB;  // reset: DIV512
  struct { uint8_t reg = 0x3F; } SAMPCTRL;                                    // the core's setting
  struct { SyncBit bit; } STATUS;
};
// Writing anything but the key to WDT->CLEAR resets the chip: here it throws
// SimWatchdogReset for the test to catch and power the board up again.
struct SimWatchdogReset {};
struct SimWdtClear {
  SimWdtClear& operator=(uint8_t value);
};
struct SimWdt {
  struct { uint8_t reg = 0; } CTRL, CONFIG;
  struct { SimWdtClear reg; } CLEAR;
  struct { SyncBit bit; } STATUS;
};
extern SimGclk* GCLK;
extern SimPm* PM;
extern SimTc* TC5;
extern SimAdc* ADC;
extern SimWdt* WDT;

#define GCLK_CLKCTRL_ID_WDT (0x03u)
#define GCLK_CLKCTRL_ID_TC4_TC5 (0x1Cu)
#define GCLK_CLKCTRL_GEN_GCLK0 (0x0u << 8)
#define GCLK_CLKCTRL_GEN_GCLK2 (0x2u << 8)
#define GCLK_CLKCTRL_CLKEN (1u << 14)
#define GCLK_GENDIV_ID(v) ((uint32_t)(v))
#define GCLK_GENDIV_DIV(v) ((uint32_t)(v) << 8)
#define GCLK_GENCTRL_ID(v) ((uint32_t)(v))
#define GCLK_GENCTRL_SRC_OSCULP32K (0x03u << 8)
#define GCLK_GENCTRL_GENEN (1u << 16)
#define GCLK_GENCTRL_DIVSEL (1u << 20)
#define PM_APBCMASK_TC5 (1u << 13)
#define TC_CTRLA_SWRST (1u << 0)
#define TC_CTRLA_ENABLE (1u << 1)
#define TC_CTRLA_MODE_COUNT16 (0x0u << 2)
#define TC_CTRLA_WAVEGEN_MFRQ (0x1u << 5)
#define TC_CTRLA_PRESCALER_DIV4 (0x2u << 8)
#define TC_CTRLA_PRESCSYNC_PRESC (0x1u << 12)
#define TC_INTENSET_MC0 (1u << 4)
#define TC_INTFLAG_MC0 (1u << 4)
#define ADC_CTRLB_PRESCALER_DIV64_Val 0x4u
#define ADC_SAMPCTRL_SAMPLEN(v) ((uint8_t)(v))
#define WDT_CTRL_ENABLE (1u << 1)
#define WDT_CONFIG_PER_16K (0xBu)
#define WDT_CLEAR_CLEAR_KEY (0xA5u)

inline SimWdtClear& SimWdtClear::operator=(uint8_t value) {
  if (value != WDT_CLEAR_CLEAR_KEY) throw SimWatchdogReset();
  return *this;
}

enum IRQn_Type { TC5_IRQn = 20 };
void NVIC_DisableIRQ(IRQn_Type);
void NVIC_ClearPendingIRQ(IRQn_Type);
void NVIC_SetPriority(IRQn_Type, uint32_t);
void NVIC_EnableIRQ(IRQn_Type);

#endif  // SIM_ARDUINO_H
