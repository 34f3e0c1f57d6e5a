"""Anti-aliased rational resampling from any device rate to the model rate, streaming.

The filter is the one :func:`scipy.signal.resample_poly` designs (Kaiser
window, beta 5, ten zero crossings per side of the slower rate), applied
in polyphase form one output sample at a time, so the result does not
depend on how the input is cut into blocks.  Away from the edges it equals
``resample_poly`` to float rounding; at the edges the signal is extended
with its first and last values instead of zeros.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..errors import check_rate
from .stream import lowpass_taps


class Resampler:
    """Stream resampler ``fs_in`` -> ``fs_out``; output ``m`` is at time ``m / fs_out``."""

    def __init__(self, fs_in: int, fs_out: int):
        self.fs_in = check_rate(fs_in, "input sample rate")
        self.fs_out = check_rate(fs_out, "output sample rate")
        ratio = Fraction(self.fs_out, self.fs_in)
        self.up, self.down = ratio.numerator, ratio.denominator
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        h = lowpass_taps(2 * half_len + 1, 1.0 / max_rate, np.kaiser(2 * half_len + 1, 5.0)) * self.up
        self._centre = half_len
        self._ntaps = -(-h.size // self.up)  # taps per polyphase branch
        padded = np.zeros(self._ntaps * self.up)
        padded[: h.size] = h
        # branch p holds h[p], h[p + up], h[p + 2 up], ...
        self._branches = padded.reshape(self._ntaps, self.up).T.copy()
        #: output delay in output samples (for latency budgets)
        self.delay = -(-half_len // self.down)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (after a gap): the next sample starts a new signal."""
        self._buf = np.empty(0)
        self._buf_start = 0  # absolute input index of _buf[0]
        self._n_in = 0
        self._n_out = 0
        self._last = 0.0

    def _emit(self, n_avail: int) -> np.ndarray:
        """Compute every output whose input support ends before input index ``n_avail``."""
        # output m needs inputs up to i0(m) = (m*down + centre) // up
        m_end = (n_avail * self.up - self._centre - 1) // self.down + 1
        if m_end <= self._n_out:
            return np.empty(0)
        m = np.arange(self._n_out, m_end)
        t = m * self.down + self._centre
        i0, phase = np.divmod(t, self.up)
        idx = i0[:, None] - np.arange(self._ntaps)[None, :] - self._buf_start
        y = (self._branches[phase] * self._buf[idx]).sum(axis=1)
        self._n_out = int(m_end)
        # keep what later outputs can still need
        i_next = (self._n_out * self.down + self._centre) // self.up - self._ntaps + 1
        drop = max(0, i_next - self._buf_start)
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return y

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed input samples; return the output samples that became final."""
        if x.size == 0:
            return np.empty(0)
        if self._n_in == 0:  # extend the first value backwards
            self._buf = np.full(self._ntaps, x[0])
            self._buf_start = -self._ntaps
        self._buf = np.concatenate([self._buf, x])
        self._n_in += x.size
        self._last = float(x[-1])
        return self._emit(self._n_in)

    def flush(self) -> np.ndarray:
        """Finish the stream: extend the last value and return the remaining outputs."""
        if self._n_in == 0:
            return np.empty(0)
        n_total = -(-self._n_in * self.up // self.down)  # ceil(n_in * up / down)
        pad = self._ntaps + self._centre // self.up + 1
        self._buf = np.concatenate([self._buf, np.full(pad, self._last)])
        y = self._emit(self._n_in + pad)
        keep = n_total - (self._n_out - y.size)
        self.reset()
        return y[: max(keep, 0)]
