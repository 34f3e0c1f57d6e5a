"""The sample clock of one device: device samples to absolute 360 Hz samples to seconds.

Beat times come from counting samples, not from arrival times (Wi-Fi
jitter would move every R peak).  The count is anchored on the arrival time
of the first frame, and again on the first frame after every gap (a
reconnect or lost frames), so samples never splice across a gap and absolute
sample numbers only increase.  Sans I/O: every time is passed in.

**Clock correction.**  A kit's crystal is off by up to a few per cent, and
the seed's sketch (``delay(3)`` per sample) sends about 333 samples a second
while the gateway assumes ``legacy_rate`` (360).  Counting samples at the
declared rate would then stretch or shrink the patient's time: RR intervals
and heart rates off by the same per cent.  :class:`RateEstimator` measures
the device's true rate from when its frames arrive, and the timeline places
samples at that rate from then on: device samples ``1 / rate`` s apart,
absolute samples at 360 Hz of the patient's time.  The processor retunes its
conditioner to the same rate at the same sample
(:meth:`gateway.signal.chain.Conditioner.retune`), so the two agree on where
every sample lies.

The estimate.  A frame cannot arrive before its last sample was taken, so
the points (samples received, arrival time) lie on or above a line whose
slope is the device's sample period; network delay only ever adds to it.
Jitter, queueing and bursts after a stall lift points off that line, never
below it.  The estimator keeps, per second of arrival, the frame that came
soonest (relative to the rate known so far), over a sliding horizon of ten
minutes, and fits the line under all of them that lies closest to them on
average: the edge of their lower convex hull above their mean sample count
(Moon, Skelly and Towsley, "Estimation and removal of clock skew from
network delay measurements", INFOCOM 1999).  It needs no noise model, and
late frames cannot pull it; its error is about the spread of the smallest
delays divided by the span: one millisecond over a minute is 17 ppm.

The first estimate comes once the points span :data:`RATE_FIRST_FIT_S`,
and is refit every :data:`RATE_FIT_EVERY_S` from then on.  A clock within
:data:`CORRECT_ABOVE` of its declared rate is left alone (so a good clock
keeps exactly the samples training sees); beyond that the correction is
applied, and then follows the estimate whenever it moves by more than
:data:`RETUNE_ABOVE`.  After a gap the points start again (samples may have
been lost in between) but the rate stays: it belongs to the device's
crystal, not to the connection.
"""

from __future__ import annotations

from collections import deque

from .signal.spec import MODEL_FS

#: Arrival time needed before the status reports ``rate_error`` (one frame of arrival jitter stays < 0.5 %).
RATE_ERROR_AFTER_S = 30.0
#: The estimator keeps the soonest frame of each such stretch of arrival time.
RATE_BIN_S = 1.0
#: ... over this much arrival time (a sliding window: a crystal drifts with temperature).
RATE_HORIZON_S = 600.0
#: First estimate once the kept frames span this long.
RATE_FIRST_FIT_S = 60.0
#: Then refit this often.
RATE_FIT_EVERY_S = 5.0
#: Correct a clock once its estimate is this far from the declared rate (a relative figure) ...
CORRECT_ABOVE = 1e-3
#: ... then follow the estimate whenever it moves by more than this.
RETUNE_ABOVE = 1e-5
#: A correction is never larger than this (beyond, the declaration is wrong, not the crystal).
MAX_CORRECTION = 0.2


class RateEstimator:
    """A device's true sample rate from the arrival times of its frames (the lower envelope, see above)."""

    def __init__(self, declared: float):
        self.declared = float(declared)
        #: the latest estimate, Hz (None until the first fit)
        self.estimate: float | None = None
        self.restart()

    def restart(self) -> None:
        """Forget the points (after a gap); the estimate stays."""
        self._count = 0  # samples received since the restart
        self._t0: float | None = None  # arrival time origin (keeps the arithmetic small)
        self._points: deque[tuple[int, float]] = deque()  # (samples received, arrival - t0), one per bin
        self._bin: int | None = None
        self._next_fit = 0.0

    def add(self, n: int, now: float) -> bool:
        """A frame of ``n`` samples arrived at ``now``; True if the estimate was refit."""
        if n <= 0:
            return False
        if self._t0 is None:
            self._t0 = float(now)
            self._next_fit = RATE_FIRST_FIT_S
        self._count += n
        x, y = self._count, float(now) - self._t0
        b = int(y // RATE_BIN_S)
        if b == self._bin:
            ref = self.estimate or self.declared
            px, py = self._points[-1]
            if y - x / ref < py - px / ref:
                self._points[-1] = (x, y)
        else:
            self._points.append((x, y))
            self._bin = b
        while self._points[0][1] < y - RATE_HORIZON_S:
            self._points.popleft()
        if y < self._next_fit:
            return False
        self._next_fit = y + RATE_FIT_EVERY_S
        return self._fit()

    def _fit(self) -> bool:
        pts = self._points
        if len(pts) < 3 or pts[-1][1] - pts[0][1] < RATE_FIRST_FIT_S:
            return False
        hull: list[tuple[int, float]] = []  # lower convex hull, x ascending (Andrew's monotone chain)
        for p in pts:
            while len(hull) >= 2:
                (ox, oy), (ax, ay) = hull[-2], hull[-1]
                if (ax - ox) * (p[1] - oy) - (ay - oy) * (p[0] - ox) > 0:
                    break
                hull.pop()
            hull.append(p)
        mean_x = sum(x for x, _ in pts) / len(pts)
        for (ax, ay), (bx, by) in zip(hull, hull[1:]):
            if bx >= mean_x:
                break
        period = (by - ay) / (bx - ax)  # seconds per sample
        if not period > 0:
            return False
        self.estimate = 1.0 / period
        return True


class Timeline:
    """Where device samples lie on the stream's absolute 360 Hz axis."""

    def __init__(self, fs: int, start_time: float):
        self.fs = fs
        self.start_time = float(start_time)
        self.estimator = RateEstimator(fs)
        #: the rate, Hz, device samples are placed at: the declared one until corrected
        self.rate = float(fs)
        self._anchor_time = self.start_time  # device sample 0 after the anchor arrived then
        self._anchor_abs = 0
        self.judged = 0  # device samples judged since the anchor
        # the last change of rate: at device sample _knot_dev (since the anchor), _knot_off 360 Hz samples in
        self._knot_dev = 0
        self._knot_off = 0.0
        self._reanchor = False

    def gap(self) -> None:
        """The stream broke off: anchor again on the next frame that arrives."""
        self._reanchor = True
        self.estimator.restart()

    def arrive(self, n: int, now: float) -> bool:
        """A frame of ``n`` samples arrived at ``now``: re-anchor if a gap came before it.

        The frame's first sample is taken to have been sampled ``n / rate``
        before its arrival, but never before the last sample already placed.
        Returns True when the rate samples are placed at changed (from the
        next sample to be judged on): the conditioner must be retuned to
        :attr:`rate`.
        """
        if self._reanchor:
            self._reanchor = False
            last = self.time_of(self.now())
            self._anchor_time = max(now - n / self.rate, last + 1 / MODEL_FS)
            self._anchor_abs = int(round((self._anchor_time - self.start_time) * MODEL_FS))
            self.judged = 0
            self._knot_dev, self._knot_off = 0, 0.0
        return self.estimator.add(n, now) and self._retune()

    def _retune(self) -> bool:
        estimate = self.estimator.estimate
        if estimate is None:
            return False
        if self.rate == self.fs and abs(estimate / self.fs - 1.0) < CORRECT_ABOVE:
            return False  # a good clock: keep the declared rate (and the samples training sees)
        rate = min(max(estimate, self.fs * (1 - MAX_CORRECTION)), self.fs * (1 + MAX_CORRECTION))
        if abs(rate / self.rate - 1.0) <= RETUNE_ABOVE:
            return False
        self._knot_off = self._offset(self.judged)
        self._knot_dev = self.judged
        self.rate = rate
        return True

    def _offset(self, dev_index: int) -> float:
        return self._knot_off + (dev_index - self._knot_dev) * MODEL_FS / self.rate

    def abs_of(self, dev_index: int) -> int:
        """Absolute 360 Hz sample of device sample ``dev_index`` (since the anchor, not before the last retune)."""
        return self._anchor_abs + int(round(self._offset(dev_index)))

    def now(self) -> int:
        """Absolute sample of the end of what has been judged so far."""
        return self.abs_of(self.judged)

    def time_of(self, abs_sample: int) -> float:
        return self.start_time + abs_sample / MODEL_FS

    @property
    def correction(self) -> float:
        """The rate samples are placed at, relative to the declared one, minus 1 (0.0: uncorrected)."""
        return self.rate / self.fs - 1.0

    def rate_error(self, now: float, waiting: int) -> float | None:
        """Samples received per second of arrival, relative to the declared rate, minus 1 (since the last anchor).

        ``waiting``: samples received but not judged yet.  Until the clock is
        corrected, beat times come from the sample count at the declared
        rate, so a device clock 2 % fast makes its ECG time run 2 % ahead of
        the wall clock and its heart rates read 2 % low; this figure makes
        that visible on the status topic, next to the estimate and the
        correction.  Samples lost without a sequence gap (legacy form) show
        up here too, as a negative error.
        """
        elapsed = float(now) - self._anchor_time
        if self._reanchor or elapsed < RATE_ERROR_AFTER_S:
            return None
        return round((self.judged + waiting) / (elapsed * self.fs) - 1.0, 4)
