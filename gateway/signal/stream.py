"""Block-invariant streaming building blocks.

Every stage here turns an unbounded stream into output samples with a fixed
delay, and gives bit-for-bit (medians) or float-rounding (FIR) identical
output however the input is cut into blocks.  The offline form of each
stage is the same code run over one block, so training (whole records) and
the gateway (WebSocket frames) cannot drift apart.

Edges: before the first sample the signal is taken to continue at its first
value, after the last at its last value (``mode="nearest"``), so a record's
DC offset does not ring through the filters at start-up.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


class SlidingStage:
    """A centred window of ``width`` samples mapped to one output sample.

    ``valid`` maps a buffer of ``n + width - 1`` samples to the ``n`` outputs
    whose whole window lies inside it.  The delay is ``(width - 1) // 2``.
    """

    def __init__(self, width: int, valid: Callable[[np.ndarray], np.ndarray]):
        if width < 1 or width % 2 == 0:
            raise ValueError(f"window width must be odd and positive, got {width}")
        self.width = width
        self.delay = (width - 1) // 2
        self._valid = valid
        self._tail: np.ndarray | None = None  # last width-1 samples seen
        self._last = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed samples; return the outputs that became final."""
        if x.size == 0:
            return np.empty(0)
        if self._tail is None:  # the signal's first value stands before it
            self._tail = np.full(self.delay, x[0], dtype=np.float64)
        buf = np.concatenate([self._tail, x])
        self._last = float(x[-1])
        if buf.size < self.width:
            self._tail = buf
            return np.empty(0)
        out = self._valid(buf)
        self._tail = buf[buf.size - (self.width - 1):]
        return out

    def flush(self) -> np.ndarray:
        """Finish the stream: pad with the last value and return the remaining outputs."""
        if self._tail is None:
            return np.empty(0)
        out = self.process(np.full(self.delay, self._last))
        self._tail = None
        return out


def median_stage(width: int) -> SlidingStage:
    """Running median over ``width`` samples (exact, any block boundaries)."""
    from scipy.ndimage import median_filter

    half = (width - 1) // 2

    def valid(buf: np.ndarray) -> np.ndarray:
        return median_filter(buf, size=width, mode="nearest")[half: buf.size - half]

    return SlidingStage(width, valid)


def lowpass_taps(numtaps: int, cutoff: float, window: np.ndarray) -> np.ndarray:
    """Windowed-sinc low-pass FIR, unit gain at DC: what ``scipy.signal.firwin`` designs.

    ``cutoff`` is a fraction of the Nyquist rate.  Written with numpy alone
    because importing ``scipy.signal`` costs the gateway about 48 MiB of
    resident memory on the Pi, for this one design function.
    """
    n = np.arange(numtaps) - (numtaps - 1) / 2
    taps = cutoff * np.sinc(cutoff * n) * window
    return taps / taps.sum()


def fir_stage(taps: np.ndarray) -> SlidingStage:
    """Linear-phase FIR filter (odd, symmetric ``taps``), zero phase after the delay."""
    taps = np.asarray(taps, dtype=np.float64)
    if taps.size % 2 == 0 or not np.allclose(taps, taps[::-1]):
        raise ValueError("FIR taps must be odd in number and symmetric (linear phase)")

    def valid(buf: np.ndarray) -> np.ndarray:
        return np.convolve(buf, taps, mode="valid")

    return SlidingStage(taps.size, valid)
