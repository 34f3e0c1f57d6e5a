// watchdog.cpp - the SAMD21 WDT clocked at 1024 Hz from the ultra-low-power
// 32 kHz oscillator (GCLK2, unused by the Arduino core): 32768 / 2^(4+1) =
// 1024 Hz, and a period of 16384 cycles = 16 s.  WiFi.begin() and a TCP
// connect each block for at most ~10 s (config.h, WiFiNINA), below that.
#include <Arduino.h>

#include "watchdog.h"

void watchdog_begin() {
  GCLK->GENDIV.reg = GCLK_GENDIV_ID(2) | GCLK_GENDIV_DIV(4);
  GCLK->GENCTRL.reg = GCLK_GENCTRL_ID(2) | GCLK_GENCTRL_GENEN | GCLK_GENCTRL_SRC_OSCULP32K | GCLK_GENCTRL_DIVSEL;
  while (GCLK->STATUS.bit.SYNCBUSY) {
  }
  GCLK->CLKCTRL.reg = GCLK_CLKCTRL_ID_WDT | GCLK_CLKCTRL_CLKEN | GCLK_CLKCTRL_GEN_GCLK2;
  while (GCLK->STATUS.bit.SYNCBUSY) {
  }

  WDT->CTRL.reg = 0;
  while (WDT->STATUS.bit.SYNCBUSY) {
  }
  WDT->CONFIG.reg = WDT_CONFIG_PER_16K;
  WDT->CTRL.reg = WDT_CTRL_ENABLE;
  while (WDT->STATUS.bit.SYNCBUSY) {
  }
}

void watchdog_feed() {
  // A write while the previous one is still crossing into the slow WDT
  // clock domain would stall the CPU for milliseconds; skipping it is
  // harmless since loop() comes back long before the period ends.
  if (!WDT->STATUS.bit.SYNCBUSY) WDT->CLEAR.reg = WDT_CLEAR_CLEAR_KEY;
}

void watchdog_restart() {
  // Any value but the key resets the chip as soon as the write reaches the
  // WDT clock domain (a few ms); should it somehow not, the unfed watchdog
  // does within 16 s.
  WDT->CLEAR.reg = 0;
  for (;;) {
  }
}
