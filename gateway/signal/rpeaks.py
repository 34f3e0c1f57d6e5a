"""Real-time R-peak detector on the conditioned 360 Hz signal (numpy only).

Why this design (parameters chosen on the MIT-BIH DS1 records only, see
``python -m bench.rpeaks`` and docs/rpeaks.md):

* QRS envelope: centred 100 ms moving sum ``m`` of the squared slope
  ``y[n+k] - y[n-k]`` (a band-pass peaking near 22 Hz, where QRS energy
  lives and P/T waves do not).  Candidates are the local maxima of ``m``
  within +-200 ms (the refractory period).  Levels and thresholds use
  ``sqrt(m)``, an amplitude, so wide low-slope ectopic beats are not
  squared out of sight.
* Adaptive thresholds (Pan & Tompkins 1985): running signal and noise peak
  levels, so the gain of the front end does not matter; a lower second
  threshold catches a small beat once the rhythm says one is due
  (search-back done forwards within the bounded look-ahead, rather than
  waiting 1.66 RR and going back).
* T waves: a candidate within 360 ms of a beat with less than half its
  slope is a T wave.
* Noise bursts, ventricular flutter/fibrillation, electrode off: a QRS is a
  burst of slope in a mostly quiet signal.  A candidate is refused if its
  envelope does not stand DIP times above the envelope's minimum on both
  sides, if less than QUIET_MIN of the samples from 2 s before it to the
  look-ahead after it have a slope below QUIET_LEVEL of its own (an
  oscillation, not a beat), or if it is below an absolute floor (flat line,
  signal pinned at a rail).
* The reported index is the R peak itself, where MIT-BIH marks it: the
  positive peak within 40 ms of the envelope peak, unless the negative one
  is clearly deeper (then the negative QRS, e.g. a PVC, is the peak).

Streaming equals offline bit for bit: every feature sample is computed
from a fixed neighbourhood with a fixed order of float operations, and
each candidate is decided from data at most ``lookahead`` samples ahead,
never from where a block happens to end.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import as_signal, check_rate
from .spec import MODEL_FS


def _samples(seconds: float, fs: int) -> int:
    return max(1, int(round(seconds * fs)))


class RPeakDetector:
    """Streaming R-peak detector: filtered samples in, R-peak sample indices out.

    ``lookahead`` is the largest number of samples after an R peak that the
    detector must have seen before it reports that peak: 162 samples
    (0.45 s) at 360 Hz.  ``flush`` reports the rest at the end of a segment
    and resets; ``reset`` starts a new segment (indices restart at 0).
    """

    #: slope span: y[n+k] - y[n-k] peaks at fs / (4k) Hz (22.5 Hz at 360 Hz)
    SLOPE_S = 4 / 360
    #: half-width of the energy integration window (100 ms window)
    ENERGY_HALF_S = 0.05
    #: candidates are the largest energy within +-200 ms (refractory period)
    REFRACTORY_S = 0.2
    #: how far ahead a decision may look (noise and flutter checks, search-back)
    LOOK_S = 0.35
    #: a candidate's slope is the largest |slope| within this distance of its energy peak
    SLOPE_HALF_S = 0.07
    #: a T wave follows its beat within this time ...
    T_WAVE_S = 0.36
    #: ... and has less than this fraction of the beat's slope
    T_SLOPE = 0.5
    #: the energy must exceed DIP times its minimum on each side within DIP_S
    DIP = 3.0
    DIP_S = 0.3
    #: ventricular flutter/fibrillation and sustained noise: a QRS stands out of a
    #: rhythm whose slope is mostly near zero; if, from QUIET_S before it to the
    #: look-ahead after it, less than QUIET_MIN of the samples have a slope below
    #: QUIET_LEVEL of its own slope, the candidate is part of an oscillation
    QUIET_S = 2.0
    QUIET_LEVEL = 0.1
    QUIET_MIN = 0.3
    #: absolute envelope floor, mV^2 (a QRS of about 0.03 mV); below it nothing is a beat
    MIN_ENERGY = 0.005
    #: the R wave is searched within R_HALF_S of the energy peak ...
    R_HALF_S = 0.04
    #: ... and is the positive peak unless the negative one is 1 / UPRIGHT times deeper
    UPRIGHT = 0.9
    #: thresholds: THR1 of the way from noise to signal level; THR2 of that for search-back
    THR1 = 0.25
    THR2 = 0.5
    #: search-back: a weak candidate is a beat if this many mean RRs passed since the last
    SEARCH_RR = 0.8
    #: seconds of envelope used to set the first signal level
    LEARN_S = 2.0

    def __init__(self, fs: int = MODEL_FS) -> None:
        self.fs = check_rate(fs, "detector sample rate")
        self._k = _samples(self.SLOPE_S, self.fs)
        self._h = _samples(self.ENERGY_HALF_S, self.fs)
        self._ctx = self._k + self._h  # y samples on each side needed for one envelope sample
        self._refr = _samples(self.REFRACTORY_S, self.fs)
        self._look = max(_samples(self.LOOK_S, self.fs), self._refr)
        self._sl = _samples(self.SLOPE_HALF_S, self.fs)
        self._rhalf = _samples(self.R_HALF_S, self.fs)
        self._twave = _samples(self.T_WAVE_S, self.fs)
        self._dip = _samples(self.DIP_S, self.fs)
        self._learn = _samples(self.LEARN_S, self.fs)
        self._quiet = _samples(self.QUIET_S, self.fs)
        self._hist = max(self._learn, self._dip, self._refr, self._quiet) + self._sl + self._ctx
        self.lookahead = self._rhalf + self._look + self._ctx
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Start a new segment: indices restart at 0 and nothing carries over."""
        self._n = 0  # input samples fed
        self._y = np.empty(0)  # y for absolute indices [self._y0, ...)
        self._y0 = 0
        self._m = np.empty(0)  # envelope for absolute indices [self._m0, self._m_end)
        self._d = np.empty(0)  # slope, same indices as the envelope
        self._m0 = 0
        self._scan = 0  # next index to test as a candidate
        self._pending: list[int] = []  # candidates found, not yet decided
        self._spk: float | None = None  # running QRS level, sqrt of the envelope
        self._npk = 0.0  # running noise level, same unit
        self._rr: list[int] = []  # recent RR intervals (in samples)
        self._last_c: int | None = None  # energy peak of the last beat
        self._last_slope = 0.0

    @property
    def _m_end(self) -> int:
        return self._m0 + self._m.size

    # ------------------------------------------------------------- interface
    def process(self, y: np.ndarray) -> np.ndarray:
        """Feed filtered samples; return the R peaks that became certain."""
        y = as_signal(y, "filtered samples", min_len=0)
        if y.size == 0:
            return np.empty(0, dtype=np.int64)
        if self._n == 0:  # the signal's first value stands before it
            self._y = np.full(self._ctx, y[0])
            self._y0 = -self._ctx
        self._n += y.size
        return self._advance(y)

    def flush(self) -> np.ndarray:
        """End of stream: return the remaining R peaks and reset."""
        out = np.empty(0, dtype=np.int64)
        if self._n:
            end = self._n
            pad = np.full(self._look + self._ctx + 1, self._y[-1])
            out = self._advance(pad)
            out = out[out < end]  # nothing from the padding
        self.reset()
        return out

    # ------------------------------------------------------------- internals
    def _advance(self, y: np.ndarray) -> np.ndarray:
        self._y = np.concatenate([self._y, y])
        self._extend_envelope()
        self._find_candidates()
        peaks = self._decide()
        self._trim()
        return np.asarray(peaks, dtype=np.int64)

    def _extend_envelope(self) -> None:
        """Envelope samples whose whole neighbourhood has arrived, fixed order of sums."""
        start = self._m_end
        stop = self._y0 + self._y.size - self._ctx
        if stop <= start:
            return
        seg = self._y[start - self._ctx - self._y0: stop + self._ctx - self._y0]
        k, h = self._k, self._h
        d = seg[2 * k:] - seg[: seg.size - 2 * k]  # slope at start-h .. stop+h
        e = d * d
        n = stop - start
        m = e[0:n].copy()
        for j in range(1, 2 * h + 1):
            m += e[j: j + n]
        if self._m.size == 0:
            self._m0 = start
        self._m = np.concatenate([self._m, m])
        self._d = np.concatenate([self._d, d[h: h + n]])

    def _find_candidates(self) -> None:
        """Local maxima of the envelope within +-refractory, above the absolute floor."""
        r = self._refr
        stop = self._m_end - r  # a candidate needs r envelope samples after it
        if stop <= self._scan:
            return
        lo = max(self._scan - r, self._m0)
        seg = self._m[lo - self._m0: stop + r - self._m0]
        left_pad = r - (self._scan - lo)  # before the stream start nothing competes
        seg = np.concatenate([np.full(left_pad, -np.inf), seg])
        win = sliding_window_view(seg, 2 * r + 1)
        centre = win[:, r]
        is_peak = (centre >= win.max(axis=1)) & (centre > win[:, :r].max(axis=1)) & (centre > self.MIN_ENERGY)
        self._pending.extend(int(i) + self._scan for i in np.flatnonzero(is_peak))
        self._scan = stop

    @staticmethod
    def _span(arr: np.ndarray, origin: int, a: int, b: int) -> tuple[np.ndarray, int]:
        """``arr`` (first sample at absolute ``origin``) over [a, b), clipped; and its start."""
        a = max(a, origin, 0)
        return arr[a - origin: max(a, b) - origin], a

    def _mval(self, a: int, b: int) -> np.ndarray:
        return self._span(self._m, self._m0, a, b)[0]

    def _decide(self) -> list[int]:
        peaks: list[int] = []
        while self._pending and self._pending[0] + self._look < self._m_end:
            c = self._pending.pop(0)
            r = self._judge(c)
            if r is not None:
                peaks.append(r)
        return peaks

    def _judge(self, c: int) -> int | None:
        """Decide one candidate from data up to ``c + look``; return its R peak or None."""
        e = float(self._m[c - self._m0])
        v = float(np.sqrt(e))
        if self._spk is None:
            self._spk = float(np.sqrt(self._mval(c - self._learn, c + self._look + 1).max()))
        left = self._mval(c - self._dip, c)
        right = self._mval(c + 1, c + self._dip + 1)
        floor = max(float(left.min()) if left.size else 0.0, float(right.min()))
        if e < self.DIP * floor:
            return None  # no quiet on one side: noise burst or flutter, not a QRS
        slope = float(np.abs(self._span(self._d, self._m0, c - self._sl, c + self._sl + 1)[0]).max())
        around = np.abs(self._span(self._d, self._m0, c - self._quiet, c + self._look)[0])
        if np.mean(around < self.QUIET_LEVEL * slope) < self.QUIET_MIN:
            return None  # part of an oscillation (flutter, fibrillation, noise)
        thr1 = self._npk + self.THR1 * (self._spk - self._npk)
        thr2 = self.THR2 * thr1
        rr_avg = float(np.mean(self._rr)) if self._rr else 0.8 * self.fs
        since = c - self._last_c if self._last_c is not None else None
        beat = False
        if v > thr1:
            beat = not (since is not None and since < self._twave and slope < self.T_SLOPE * self._last_slope)
            if beat:
                self._spk = 0.125 * v + 0.875 * self._spk
        elif v > thr2 and (since is None or since > self.SEARCH_RR * rr_avg):
            ahead = self._mval(c + 1, c + 1 + min(self._look, int(self.SEARCH_RR * rr_avg)))
            beat = ahead.size == 0 or float(ahead.max()) < e
            if beat:
                self._spk = 0.25 * v + 0.75 * self._spk
        if not beat:
            self._npk = 0.125 * v + 0.875 * self._npk
            return None
        if since is not None:
            self._rr = (self._rr + [since])[-8:]
        self._last_c = c
        self._last_slope = slope
        return self._r_wave(c)

    def _r_wave(self, c: int) -> int:
        """The R wave near energy peak ``c``: the positive peak unless the negative one
        is more than 1 / UPRIGHT times deeper (MIT-BIH marks the R of an RS complex)."""
        seg, start = self._span(self._y, self._y0, c - self._rhalf, c + self._rhalf + 1)
        top, bottom = int(np.argmax(seg)), int(np.argmin(seg))
        return start + (top if seg[top] >= -self.UPRIGHT * seg[bottom] else bottom)

    def _trim(self) -> None:
        """Drop history no future decision can look at."""
        keep_from = (self._pending[0] if self._pending else self._scan) - self._hist
        if keep_from > self._m0:
            self._m = self._m[keep_from - self._m0:]
            self._d = self._d[keep_from - self._m0:]
            self._m0 = keep_from
        y_from = keep_from - self._ctx
        if y_from > self._y0:
            self._y = self._y[y_from - self._y0:]
            self._y0 = y_from


def detect_rpeaks(y: np.ndarray, fs: int = MODEL_FS) -> np.ndarray:
    """Offline R peaks of a whole filtered signal: the streaming detector over one block."""
    det = RPeakDetector(fs)
    return np.concatenate([det.process(y), det.flush()])
