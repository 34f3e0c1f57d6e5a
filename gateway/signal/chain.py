"""The signal chain up to R peaks: device rate -> 360 Hz -> filtered -> peaks -> beat windows.

:class:`Conditioner` is the streaming form used by the gateway; the
offline helpers (:func:`condition`, :func:`beat_windows`) run the very
same objects over a whole record and are what training calls.
"""

from __future__ import annotations

import numpy as np

from ..errors import as_signal, check_rate
from .filters import ECGFilter
from .resample import Resampler, VariableResampler
from .spec import MODEL_FS, WINDOW_AFTER, WINDOW_BEFORE


class Conditioner:
    """Streaming resample + filter: device samples in, 360 Hz filtered samples out.

    Output sample ``n`` is at time ``n / 360`` s from the first input
    sample; ``delay`` is how many model-rate samples the output lags the
    input (resampler plus filter).

    The device's samples are taken to be ``1 / fs_in`` s apart (the fixed
    rational :class:`~gateway.signal.resample.Resampler`, or none at
    360 Hz: what training sees) until :meth:`retune` says they are
    ``1 / rate`` s apart, the device's measured rate.  From then on the
    conditioner resamples through a
    :class:`~gateway.signal.resample.VariableResampler` that takes over the
    stream where the fixed path left it (the same output count, the same
    input history), so retuning drops, repeats and shifts no sample; a
    later segment starts at the retuned rate.
    """

    def __init__(self, fs_in: int):
        self.fs_in = check_rate(fs_in, "device sample rate")
        self._resampler = Resampler(self.fs_in, MODEL_FS) if self.fs_in != MODEL_FS else None
        self._variable: VariableResampler | None = None
        self._filter = ECGFilter()
        self.delay = self._filter.delay + (self._resampler.delay if self._resampler else 0)
        #: the rate, Hz, the device's samples are taken to come at
        self.rate = float(self.fs_in)
        # what a variable resampler would need to take over from the fixed path: the last inputs
        self._history = (self._resampler._ntaps if self._resampler else 0) + \
            2 * VariableResampler(self.fs_in, MODEL_FS).half + 8
        self.n_out = 0
        self._restart()

    def _restart(self) -> None:
        self._tail = np.empty(0)  # the segment's last inputs (fixed path only)
        self._n_in = 0
        self._n_mid = 0  # resampled samples handed to the filter

    def reset(self) -> None:
        """Start a new segment (after a gap): nothing from before leaks into it."""
        if self._resampler:
            self._resampler.reset()
        if self._variable:
            self._variable.reset()
        self._filter.reset()
        self.n_out = 0
        self._restart()

    def retune(self, rate: float) -> None:
        """From the next input sample on, the device's samples are ``1 / rate`` s apart."""
        if rate == self.rate:
            return
        if self._variable is None:
            variable = VariableResampler(self.fs_in, MODEL_FS)
            if self._n_in:
                tail = self._tail
                if tail.size < self._history:  # the segment's first value stands before it
                    tail = np.concatenate([np.full(self._history - tail.size, tail[0]), tail])
                variable.resume(tail, self._n_in, self._n_mid, self.fs_in / MODEL_FS)
            self._variable, self._resampler, self._tail = variable, None, np.empty(0)
            self.delay = self._filter.delay + variable.delay
        self._variable.set_rate(rate)
        self.rate = self._variable.rate

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed device samples (any unit, typically mV); return new filtered samples."""
        x = as_signal(x, "samples", min_len=0)
        self._n_in += x.size
        if self._variable:
            x = self._variable.process(x)
        else:
            self._tail = (np.concatenate([self._tail, x]) if x.size < self._history else x)[-self._history:]
            if self._resampler:
                x = self._resampler.process(x)
        self._n_mid += x.size
        y = self._filter.process(x)
        self.n_out += y.size
        return y

    def flush(self) -> np.ndarray:
        """End of segment: return the remaining filtered samples and reset."""
        resampler = self._variable or self._resampler
        y = resampler.flush() if resampler else np.empty(0)
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
