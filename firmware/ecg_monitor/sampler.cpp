// sampler.cpp - SAMD21 register-level sampling: TC5 interrupts at exactly
// 360 Hz of the 48 MHz clock (pacer.h has the arithmetic) and each interrupt
// reads the ADC and the lead-off pins into the queue.
//
// The seed's delay(3) in loop() gave 333 Hz less the time loop() itself
// took, varying with Wi-Fi traffic; here the rate does not depend on what
// loop() does.  The 48 MHz clock of the (crystal-less) Nano 33 IoT is locked
// to the USB host's 1 kHz frames while plugged into a computer or the Pi,
// and runs open loop on its factory calibration otherwise (a power bank),
// where the datasheet allows a percent-level error; the gateway sees the
// rate the device really has through its sample count against time.
//
// TC5 is free on this board unless tone() is used (tone() takes TC5).
#include <Arduino.h>

#include "pacer.h"
#include "sampler.h"

ecg::SampleQueue<kQueueSize> g_samples;

namespace {

RatePacer pacer(kTimerClockHz, kSampleRateHz);

void wait_tc5() {
  while (TC5->COUNT16.STATUS.bit.SYNCBUSY) {
  }
}

void wait_adc() {
  while (ADC->STATUS.bit.SYNCBUSY) {
  }
}

// The core leaves the ADC at GCLK0/512 with the longest sampling time, so
// one analogRead() takes about 0.4 ms, most of it in this interrupt.  The
// AD8232 output is a low-impedance op-amp output, so GCLK0/64 (750 kHz,
// within the 2.1 MHz limit) and a short sampling time lose nothing and cut
// the interrupt to tens of microseconds.  Runs after analogRead() has let
// the core configure pin, reference and resolution (the ADC is disabled
// between reads, so CTRLB may be written).
void speed_up_adc() {
  ADC->CTRLB.bit.PRESCALER = ADC_CTRLB_PRESCALER_DIV64_Val;
  wait_adc();
  ADC->SAMPCTRL.reg = ADC_SAMPCTRL_SAMPLEN(5);
  wait_adc();
}

void start_tc5() {
  GCLK->CLKCTRL.reg = GCLK_CLKCTRL_CLKEN | GCLK_CLKCTRL_GEN_GCLK0 | GCLK_CLKCTRL_ID_TC4_TC5;
  while (GCLK->STATUS.bit.SYNCBUSY) {
  }
  PM->APBCMASK.reg |= PM_APBCMASK_TC5;

  TC5->COUNT16.CTRLA.reg = TC_CTRLA_SWRST;
  wait_tc5();
  while (TC5->COUNT16.CTRLA.bit.SWRST) {
  }
  // 16-bit counter, reset at CC0 ("match frequency"): one period is CC0 + 1
  // ticks of 48 MHz / 4 = 12 MHz.
  TC5->COUNT16.CTRLA.reg =
      TC_CTRLA_MODE_COUNT16 | TC_CTRLA_WAVEGEN_MFRQ | TC_CTRLA_PRESCALER_DIV4 | TC_CTRLA_PRESCSYNC_PRESC;
  wait_tc5();
  TC5->COUNT16.CC[0].reg = static_cast<uint16_t>(pacer.next_period() - 1);
  wait_tc5();
  TC5->COUNT16.INTENSET.reg = TC_INTENSET_MC0;

  NVIC_DisableIRQ(TC5_IRQn);
  NVIC_ClearPendingIRQ(TC5_IRQn);
  NVIC_SetPriority(TC5_IRQn, 1);  // pre-empts SysTick (2) and loop(); USB (0) pre-empts it
  NVIC_EnableIRQ(TC5_IRQn);

  TC5->COUNT16.CTRLA.reg |= TC_CTRLA_ENABLE;
  wait_tc5();
}

}  // namespace

void sampler_begin() {
  pinMode(kPinLeadOffPlus, INPUT);
  pinMode(kPinLeadOffMinus, INPUT);
  pinMode(kPinShutdown, OUTPUT);
  digitalWrite(kPinShutdown, HIGH);

  analogReadResolution(kAdcBits);
  (void)analogRead(A0);
  speed_up_adc();
  start_tc5();
}

// Runs at the start of every period.  The counter has just wrapped to 0, so
// the next period's compare value is written well before it is reached.
extern "C" void TC5_Handler(void) {
  TC5->COUNT16.INTFLAG.reg = TC_INTFLAG_MC0;
  TC5->COUNT16.CC[0].reg = static_cast<uint16_t>(pacer.next_period() - 1);

  uint8_t lead = 0;
  if (digitalRead(kPinLeadOffPlus) == HIGH) lead |= ecg::kFlagLeadOffPlus;
  if (digitalRead(kPinLeadOffMinus) == HIGH) lead |= ecg::kFlagLeadOffMinus;
  g_samples.put(static_cast<int16_t>(analogRead(A0)), lead);
}
