// sampler.h - the 360 Hz sampling interrupt (TC5) and its queue.
#ifndef ECG_SAMPLER_H
#define ECG_SAMPLER_H

#include "config.h"
#include "ecg_protocol.h"

// Filled by the TC5 interrupt, emptied by loop().
extern ecg::SampleQueue<kQueueSize> g_samples;

// Sets up the AD8232 pins, the ADC (12 bits) and TC5, and starts sampling.
void sampler_begin();

#endif  // ECG_SAMPLER_H
