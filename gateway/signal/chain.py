"""The signal chain up to R peaks: device rate -> 360 Hz -> filtered -> peaks -> beat windows.

:class:`Conditioner` is the streaming form used by the gateway; the
offline helpers (:func:`condition`, :func:`beat_windows`) run the very
same objects over a whole record and are what training calls.
"""

from __future__ import annotations

import numpy as np

from ..errors import as_signal, check_rate
from .filters import ECGFilter
from .resample import Resampler
from .spec import MODEL_FS, WINDOW_AFTER, WINDOW_BEFORE


class Conditioner:
    """Streaming resample + filter: device samples in, 360 Hz filtered samples out.

    Output sample ``n`` is at time ``n / 360`` s from the first input
    sample; ``delay`` is how many model-rate samples the output lags the
    input (resampler plus filter).
    """

    def __init__(self, fs_in: int):
        self.fs_in = check_rate(fs_in, "device sample rate")
        self._resampler = Resampler(self.fs_in, MODEL_FS) if self.fs_in != MODEL_FS else None
        self._filter = ECGFilter()
        self.delay = self._filter.delay + (self._resampler.delay if self._resampler else 0)
        self.n_out = 0

    def reset(self) -> None:
        """Start a new segment (after a gap): nothing from before leaks into it."""
        if self._resampler:
            self._resampler.reset()
        self._filter.reset()
        self.n_out = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed device samples (any unit, typically mV); return new filtered samples."""
        x = as_signal(x, "samples", min_len=0)
        if self._resampler:
            x = self._resampler.process(x)
        y = self._filter.process(x)
        self.n_out += y.size
        return y

    def flush(self) -> np.ndarray:
        """End of segment: return the remaining filtered samples and reset."""
        y = self._resampler.flush() if self._resampler else np.empty(0)
        y = np.concatenate([self._filter.process(y), self._filter.flush()])
        self.reset()
        return y


def condition(x: np.ndarray, fs: int) -> np.ndarray:
    """Offline: a whole signal at ``fs`` to the filtered 360 Hz signal.

    A signal that cannot be an ECG (empty, shorter than a second, constant,
    non-finite) is refused with a :class:`~gateway.errors.SignalError`.
    """
    fs = check_rate(fs, "sample rate")
    x = as_signal(x, "signal", min_len=fs, allow_constant=False)
    c = Conditioner(fs)
    return np.concatenate([c.process(x), c.flush()])


def beat_windows(y: np.ndarray, peaks: np.ndarray,
                 before: int = WINDOW_BEFORE, after: int = WINDOW_AFTER) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``before + after`` samples around each peak of the filtered signal ``y``.

    Returns ``(windows, kept)``: peaks too close to either end for a full
    window are left out, and ``kept`` is the boolean mask saying which.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    kept = (peaks - before >= 0) & (peaks + after <= y.size)
    starts = peaks[kept] - before
    if starts.size == 0:
        return np.empty((0, before + after)), kept
    idx = starts[:, None] + np.arange(before + after)[None, :]
    return y[idx], kept
