"""Baseline-wander removal and denoising at the model rate, streaming with a fixed delay.

The seed filtered whole batches with a db5 wavelet (level 10, approximation
and the two finest details zeroed) and a 0.5 Hz Butterworth ``filtfilt``;
neither has a streaming form with bounded delay.  Here:

* baseline = a 200 ms running median followed by a 600 ms running median
  (de Chazal et al. 2004), subtracted from the signal: it follows wander
  and steps without eating QRS complexes or ST segments, and is exact in
  any block size;
* noise = a linear-phase FIR low-pass (121 taps, Hamming, 40 Hz cut-off,
  < -50 dB at 50 and 60 Hz mains), the band the seed kept once its two
  finest wavelet details (45-180 Hz) were zeroed.

Both are zero-phase once the fixed delay :data:`DELAY` (204 samples,
567 ms at 360 Hz) is taken out, so output sample ``n`` lines up with input
sample ``n``.
"""

from __future__ import annotations

import numpy as np
from .spec import MODEL_FS
from .stream import fir_stage, lowpass_taps, median_stage


def _odd(n: float) -> int:
    n = int(round(n))
    return n if n % 2 else n + 1


MEDIAN_SHORT = _odd(0.2 * MODEL_FS)  # 73 samples
MEDIAN_LONG = _odd(0.6 * MODEL_FS)  # 217 samples
LOWPASS_HZ = 40.0
LOWPASS_TAPS = lowpass_taps(121, LOWPASS_HZ / (MODEL_FS / 2), np.hamming(121))
#: samples between an input sample and its filtered output
DELAY = (MEDIAN_SHORT - 1) // 2 + (MEDIAN_LONG - 1) // 2 + (LOWPASS_TAPS.size - 1) // 2


class ECGFilter:
    """Streaming baseline removal + low-pass at :data:`~gateway.signal.spec.MODEL_FS`.

    ``process`` returns the filtered samples that became final; together,
    the outputs of ``process`` calls and ``flush`` are the offline
    :func:`filter_ecg` of everything fed, whatever the block sizes.
    """

    def __init__(self) -> None:
        self.delay = DELAY
        self.reset()

    def reset(self) -> None:
        """Start a new signal (after a gap or a lead reconnect)."""
        self._med_short = median_stage(MEDIAN_SHORT)
        self._med_long = median_stage(MEDIAN_LONG)
        self._lowpass = fir_stage(LOWPASS_TAPS)
        self._raw = np.empty(0)  # input not yet matched with its baseline

    def _feed(self, x: np.ndarray, baseline: np.ndarray, final: bool) -> np.ndarray:
        self._raw = np.concatenate([self._raw, x])
        detrended = self._raw[: baseline.size] - baseline
        self._raw = self._raw[baseline.size:]
        out = self._lowpass.process(detrended)
        if final:
            out = np.concatenate([out, self._lowpass.flush()])
        return out

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed samples; return the filtered samples that became final."""
        baseline = self._med_long.process(self._med_short.process(x))
        return self._feed(x, baseline, final=False)

    def flush(self) -> np.ndarray:
        """End of the signal: return the last ``delay`` filtered samples and reset."""
        tail = self._med_short.flush()
        baseline = np.concatenate([self._med_long.process(tail), self._med_long.flush()])
        out = self._feed(np.empty(0), baseline, final=True)
        self.reset()
        return out


def filter_ecg(x: np.ndarray) -> np.ndarray:
    """Offline form of :class:`ECGFilter`: the same code over one block."""
    f = ECGFilter()
    return np.concatenate([f.process(np.asarray(x, dtype=np.float64)), f.flush()])
