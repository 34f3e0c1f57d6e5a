"""Anti-aliased resampling from any device rate to the model rate, streaming.

:class:`Resampler` is rational and fixed: the filter is the one
:func:`scipy.signal.resample_poly` designs (Kaiser window, beta 5, ten zero
crossings per side of the slower rate), applied in polyphase form one output
sample at a time, so the result does not depend on how the input is cut into
blocks.  Away from the edges it equals ``resample_poly`` to float rounding;
at the edges the signal is extended with its first and last values instead
of zeros.  Training and the gateway use it for a device whose clock keeps
its declared rate.

:class:`VariableResampler` resamples from a rate that may change while the
stream runs (the gateway's estimate of a device's true rate,
:mod:`gateway.timeline`): the same kind of kernel (Kaiser-windowed sinc,
beta 5, ten zero crossings per side of the slower rate), tabulated and
interpolated at any fractional input position.  Where input samples lie on
the output axis is a continuous piecewise-linear map; a new rate starts a
new piece at an input sample boundary, so changing it never drops,
repeats or shifts a sample: the signal is only stretched differently from
there on.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..errors import check_rate
from .stream import lowpass_taps


class _StreamInput:
    """The input side both resamplers share: a buffer of the inputs later outputs still need.

    A subclass sets ``_lead`` (how far back its first output reaches, so the
    first value is extended that far) and ``_emit(n_avail)``, which computes
    the outputs that inputs up to ``n_avail`` make final and trims the buffer.
    """

    _lead: int
    _buf: np.ndarray
    _buf_start: int
    _n_in: int
    _last: float

    def _emit(self, n_avail: int) -> np.ndarray:
        raise NotImplementedError

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed input samples; return the output samples that became final."""
        if x.size == 0:
            return np.empty(0)
        if self._n_in == 0:  # extend the first value backwards
            self._buf = np.full(self._lead, float(x[0]))
            self._buf_start = -self._lead
        self._buf = np.concatenate([self._buf, x])
        self._n_in += x.size
        self._last = float(x[-1])
        return self._emit(self._n_in)


class Resampler(_StreamInput):
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
        self._lead = self._ntaps
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


#: kernel of :class:`VariableResampler`: zero crossings per side, Kaiser beta, table points per zero crossing
ZERO_CROSSINGS = 10
KAISER_BETA = 5.0
TABLE_STEPS = 512

_PHASES: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}


def _kernel(s: np.ndarray) -> np.ndarray:
    """sinc(s) x Kaiser(s / ZERO_CROSSINGS), zero from the last crossing on (``s`` in zero crossings)."""
    s = np.abs(s)
    arg = np.sqrt(np.clip(1.0 - (s / ZERO_CROSSINGS) ** 2, 0.0, None))
    return np.where(s < ZERO_CROSSINGS, np.sinc(s) * np.i0(KAISER_BETA * arg) / np.i0(KAISER_BETA), 0.0)


def _phase_table(fs_in: int, fs_out: int) -> tuple[np.ndarray, ...]:
    """The kernel's taps at ``P + 1`` fractional positions between two input samples (shared per rate pair).

    Row ``k`` holds the weights of the taps ``floor(u) - half + 1 .. floor(u) + half`` for an output at
    ``u = floor(u) + k / P``; between rows the weights are interpolated linearly, which is linear
    interpolation of the kernel at steps of 1/TABLE_STEPS zero crossing.  Returned with the row
    differences and the rows' sums (the normalisation of an interpolated row is interpolated too).
    """
    key = (fs_in, fs_out)
    if key not in _PHASES:
        fc = min(1.0, fs_out / fs_in)
        half = int(np.ceil(ZERO_CROSSINGS / fc))
        phases = max(8, int(np.ceil(TABLE_STEPS * fc)))
        offsets = np.arange(-half + 1, half + 1)
        rows = _kernel((offsets[None, :] - np.arange(phases + 1)[:, None] / phases) * fc)
        diff = np.diff(rows, axis=0)
        sums = rows.sum(axis=1)
        _PHASES[key] = (rows[:-1].copy(), diff, sums[:-1].copy(), np.diff(sums), phases)
    return _PHASES[key]


class VariableResampler(_StreamInput):
    """Stream resampler from a device whose true rate (``rate``, Hz, any float) may be retuned while streaming.

    Output ``m`` is at time ``m / fs_out`` of the device's own time line,
    where input sample ``j`` lies at the position the rates so far give it
    (``position_of``).  ``fs_in`` is the declared rate: it sets the kernel's
    cut-off (half the slower of ``fs_in`` and ``fs_out``) and width, which
    stay fixed, so the cost per output sample is constant.  Each output is
    normalised by the sum of its weights, so a constant input comes out
    exactly constant at every fractional phase.
    """

    def __init__(self, fs_in: int, fs_out: int, rate: float | None = None):
        self.fs_in = check_rate(fs_in, "input sample rate")
        self.fs_out = check_rate(fs_out, "output sample rate")
        self._fc = min(1.0, self.fs_out / self.fs_in)  # cut-off, in units of the input Nyquist frequency
        self._half = int(np.ceil(ZERO_CROSSINGS / self._fc))
        self._lead = self._half
        #: input samples each side of an output that it rests on
        self.half = self._half
        self._offsets = np.arange(-self._half + 1, self._half + 1)  # taps, relative to floor(position)
        self._rows, self._row_diff, self._sums, self._sum_diff, self._phases = _phase_table(self.fs_in, self.fs_out)
        #: output delay in output samples (for latency budgets)
        self.delay = int(np.ceil((self._half + 1) * self.fs_out / self.fs_in))
        self.rate = _check_true_rate(self.fs_in if rate is None else rate)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (after a gap); the rate stays."""
        self._buf = np.empty(0)
        self._buf_start = 0
        self._n_in = 0
        self._n_out = 0
        self._last = 0.0
        # pieces of the map: (output position, input position, input samples per output sample)
        self._knots: list[tuple[float, float, float]] = [(0.0, 0.0, self.rate / self.fs_out)]

    @property
    def n_out(self) -> int:
        return self._n_out

    def set_rate(self, rate: float) -> None:
        """From the next input sample on, input samples are ``1 / rate`` s apart."""
        self.rate = _check_true_rate(rate)
        step = self.rate / self.fs_out
        p = self.position_of(self._n_in)
        while self._knots and self._knots[-1][1] >= self._n_in:  # a piece not yet started is replaced
            self._knots.pop()
        self._knots.append((p, float(self._n_in), step))

    def resume(self, history: np.ndarray, n_in: int, n_out: int, step: float) -> None:
        """Take over a stream another resampler has run so far: ``n_in`` inputs (the last of them
        ``history``) placed ``step`` inputs per output apart from input 0, ``n_out`` outputs made."""
        self.reset()
        self._knots = [(0.0, 0.0, float(step))]
        self._buf = np.asarray(history, dtype=np.float64).copy()
        self._buf_start = n_in - self._buf.size
        self._n_in, self._n_out = int(n_in), int(n_out)
        self._last = float(self._buf[-1]) if self._buf.size else 0.0
        if int(np.floor(self._input_at(np.array([float(self._n_out)]))[0])) - self._half + 1 < self._buf_start:
            raise ValueError("resume: the history does not reach back to what the next output needs")

    def position_of(self, j: float) -> float:
        """Output position of input position ``j`` (inputs counted from the start of the stream)."""
        i = len(self._knots) - 1
        while i > 0 and self._knots[i][1] > j:
            i -= 1
        p, u, step = self._knots[i]
        return p + (j - u) / step

    def _input_at(self, m: np.ndarray) -> np.ndarray:
        """Input positions of output positions ``m`` (ascending)."""
        if len(self._knots) == 1:
            p, u, step = self._knots[0]
            return u + (m - p) * step
        knots = np.array(self._knots)
        k = np.clip(np.searchsorted(knots[:, 0], m, side="right") - 1, 0, None)
        return knots[k, 1] + (m - knots[k, 0]) * knots[k, 2]

    def _outputs_before(self, j: float) -> int:
        """How many outputs lie before input position ``j``."""
        return max(0, int(np.ceil(self.position_of(j))))

    def _emit(self, n_avail: int) -> np.ndarray:
        """Every output whose taps end before input index ``n_avail``."""
        limit = n_avail - self._half  # output m needs floor(u(m)) + half <= n_avail - 1
        m_end = self._outputs_before(limit)
        if m_end <= self._n_out:
            return np.empty(0)
        m = np.arange(self._n_out, m_end, dtype=np.float64)
        u = self._input_at(m)
        ok = int(np.count_nonzero(u < limit))  # float rounding of the map's inverse, at the very end
        m, u = m[:ok], u[:ok]
        if not ok:
            return np.empty(0)
        i0 = np.floor(u)
        ph = (u - i0) * self._phases
        k = ph.astype(np.int64)
        a = ph - k
        i0 = i0.astype(np.int64) - self._buf_start
        w = self._rows[k] + self._row_diff[k] * a[:, None]
        x = self._buf[i0[:, None] + self._offsets[None, :]]
        y = np.einsum("ij,ij->i", w, x) / (self._sums[k] + self._sum_diff[k] * a)
        self._n_out += ok
        while len(self._knots) > 1 and self._knots[1][0] <= self._n_out:
            self._knots.pop(0)
        need = int(np.floor(self._input_at(np.array([float(self._n_out)]))[0])) - self._half + 1
        drop = max(0, min(need, n_avail) - self._buf_start)
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return y

    def flush(self) -> np.ndarray:
        """Finish the stream: extend the last value, return the outputs before the end of the input."""
        if self._n_in == 0:
            return np.empty(0)
        n_total = self._outputs_before(self._n_in)
        pad = self._half + 2
        self._buf = np.concatenate([self._buf, np.full(pad, self._last)])
        before = self._n_out
        y = self._emit(self._n_in + pad)
        self.reset()
        return y[: max(n_total - before, 0)]


def _check_true_rate(rate: object) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
            or not np.isfinite(rate) or not 50 * 0.5 <= rate <= 10_000 * 1.5:
        raise ValueError(f"device rate: expected a finite number of Hz, got {rate!r}")
    return float(rate)
