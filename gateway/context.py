"""The beat's context: its timing and its shape against the patient's own recent beats.

A beat image alone generalises poorly to a patient the model has not seen.
It cannot show prematurity: below about 85 beats/min the neighbouring R
peaks fall outside the 512-sample window, and an atrial premature beat
looks like a normal one apart from arriving early.  And what a normal QRS
looks like differs from patient to patient (a bundle branch block makes
every beat wide), so "wide" alone does not mean ventricular.  So the
model gets, beside the image, eight numbers computed here from the
detector's R peaks and the filtered signal alone (never from reference
annotations), by this one code path in training and in the gateway.
``local`` is the median of the up to :data:`HISTORY` intervals before the
beat:

* ``pre``: log2 of the beat's RR interval over ``local`` (< 0: premature);
* ``prev``: the same ratio for the previous beat (a premature beat after a
  normal interval, bigeminy, runs);
* ``long``: log2 of the beat's RR over the median of the up to
  :data:`LONG_HISTORY` intervals before it, so a run of premature beats
  still stands out once ``local`` has adapted to it;
* ``rate``: log2 of ``local`` over one second (the patient's rate, which
  sets what an escape beat or a pause is);
* ``irregularity``: the median of ``|log2(interval / local)|`` over the
  intervals of ``local``: near 0 in sinus rhythm, large in atrial
  fibrillation, where an early beat says little;
* ``post``: log2 of the interval to the *next* beat over ``local`` (the
  compensatory pause after a premature beat);
* ``shape``: the correlation of the beat's QRS (+-:data:`QRS_HALF`
  samples around the R peak) with the patient's template, the pointwise
  median QRS of the up to :data:`TEMPLATE_BEATS` beats before it (1: the
  patient's usual beat, whatever its form);
* ``height``: log2 of the QRS's peak-to-peak amplitude over the template's.

``post`` makes a beat's features wait for the next R peak, at most
:data:`MAX_RR_S`: an interval longer than that (a pause, a missed
detection) counts as :data:`MAX_RR_S`, so a tracker can settle a beat once
it knows no peak came within that time (:meth:`ContextTracker.settle`),
and a beat whose segment ends before that gets ``post = 0``.  At a rate
above about 85/min the next peak arrives before the beat's window is
complete, so ``post`` costs no delay; at 60/min about 0.45 s.  Intervals
longer than :data:`MAX_RR_S` do not enter the history; every feature is
clipped to ``+-CLIP`` and is 0 where not yet known (the first beats of a
segment), so the model never sees an unbounded or undefined input.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .spec import MODEL_FS

#: Names of the features, in model-input order (recorded in the model metadata).
CONTEXT_FEATURES = ("pre", "prev", "long", "rate", "irregularity", "post", "shape", "height")
N_CONTEXT = len(CONTEXT_FEATURES)
_PRE, _PREV, _LONG, _RATE, _IRREGULARITY, _POST, _SHAPE, _HEIGHT = range(N_CONTEXT)
#: Intervals the local RR is the median of.
HISTORY = 16
#: Intervals the long-term RR is the median of (about 1.5 to 2 minutes).
LONG_HISTORY = 128
#: Longer intervals are not rhythm but pauses or gaps: kept out of the history, and ``post`` caps here.
MAX_RR_S = 3.0
#: Bound of every feature (log2 units: a factor of 4 either way).
CLIP = 2.0
#: Half-width of the QRS compared with the template, in samples at MODEL_FS (0.1 s).
QRS_HALF = 36
#: Beats the template is the median of, and how many it needs before it is used.
TEMPLATE_BEATS = 16
MIN_TEMPLATE_BEATS = 4

#: A beat whose features are complete: (peak sample, float32 ``(N_CONTEXT,)``).
Done = tuple[int, np.ndarray]


class ContextTracker:
    """Context features of successive R peaks of one uninterrupted segment.

    Push every detected peak in order (sample indices at MODEL_FS) with its
    QRS, ``y[peak - QRS_HALF:peak + QRS_HALF]`` of the filtered signal
    (``None`` where the segment does not hold all of it); each push
    completes the previous beat, whose ``post`` interval it ends.  Call
    :meth:`settle` with a sample index before which every peak has been
    pushed (it completes a beat whose next peak is overdue), :meth:`flush`
    when the segment ends, and :meth:`reset` to start a new one, since an
    interval across a gap is not an RR interval.
    """

    def __init__(self) -> None:
        self.fs = float(MODEL_FS)
        self._max_rr = round(MAX_RR_S * MODEL_FS)
        self._intervals: deque[float] = deque(maxlen=LONG_HISTORY)
        self._last_peak: int | None = None
        self._last_ratio = 0.0
        self._pending: tuple[int, np.ndarray, float | None] | None = None  # (peak, features, local RR)
        self._qrs: deque[np.ndarray] = deque(maxlen=TEMPLATE_BEATS)

    def reset(self) -> None:
        """Forget the history and any beat still waiting for its next peak (a new segment starts)."""
        self._intervals.clear()
        self._last_peak = None
        self._last_ratio = 0.0
        self._pending = None
        self._qrs.clear()

    def push(self, peak: int, qrs: np.ndarray | None) -> list[Done]:
        """Take the next R peak and its QRS; returns the beat it completes (the previous one), if any."""
        if self._last_peak is not None and peak <= self._last_peak:
            raise ValueError(f"R peaks must ascend: {peak} after {self._last_peak}")
        done = self._complete(peak - self._last_peak) if self._pending is not None else []
        rr = None if self._last_peak is None else (peak - self._last_peak) / self.fs
        self._last_peak = peak
        features = np.zeros(N_CONTEXT, dtype=np.float32)
        features[_PREV] = self._last_ratio
        local = None
        if self._intervals:
            recent = np.asarray(self._intervals)
            local = float(np.median(recent[-HISTORY:]))
            features[_RATE] = _log2_clipped(local)
            features[_IRREGULARITY] = min(float(np.median(np.abs(np.log2(recent[-HISTORY:] / local)))), CLIP)
            if rr is not None:
                features[_PRE] = _log2_clipped(rr / local)
                features[_LONG] = _log2_clipped(rr / float(np.median(recent)))
        self._last_ratio = float(features[_PRE])
        if rr is not None and rr <= MAX_RR_S:
            self._intervals.append(rr)
        if qrs is not None:
            features[_SHAPE], features[_HEIGHT] = self._compare(np.asarray(qrs, dtype=np.float64))
        self._pending = (peak, features, local)
        return done

    def _compare(self, qrs: np.ndarray) -> tuple[float, float]:
        """(shape, height) of ``qrs`` against the template of the beats before it; then it joins them."""
        if qrs.shape != (2 * QRS_HALF,):
            raise ValueError(f"a QRS is {2 * QRS_HALF} samples around the R peak, got shape {qrs.shape}")
        shape = height = 0.0
        if len(self._qrs) >= MIN_TEMPLATE_BEATS:
            template = np.median(np.stack(self._qrs), axis=0)
            a, b = qrs - qrs.mean(), template - template.mean()
            norm = float(np.sqrt((a @ a) * (b @ b)))
            shape = float(a @ b) / norm if norm > 0 else 0.0
            spans = np.ptp(qrs), np.ptp(template)
            height = _log2_clipped(spans[0] / spans[1]) if min(spans) > 0 else 0.0
        self._qrs.append(qrs)
        return shape, height

    def settle(self, known_until: int) -> list[Done]:
        """Every peak before sample ``known_until`` has been pushed: complete a beat whose next is overdue."""
        if self._pending is not None and known_until - self._pending[0] > self._max_rr:
            return self._complete(self._max_rr)
        return []

    def flush(self) -> list[Done]:
        """The segment ends: the waiting beat, if any, is complete with ``post`` unknown (0)."""
        if self._pending is None:
            return []
        peak, features, _ = self._pending
        self._pending = None
        return [(peak, features)]

    def _complete(self, next_interval: int) -> list[Done]:
        peak, features, local = self._pending
        self._pending = None
        if local is not None:
            features[_POST] = _log2_clipped(min(next_interval, self._max_rr) / self.fs / local)
        return [(peak, features)]


def _log2_clipped(x: float) -> float:
    return float(np.clip(np.log2(x), -CLIP, CLIP))


def qrs_at(y: np.ndarray, peak: int) -> np.ndarray | None:
    """The QRS of the beat at ``peak`` in the filtered segment ``y``, or None if ``y`` does not hold it all."""
    if peak - QRS_HALF < 0 or peak + QRS_HALF > len(y):
        return None
    return y[peak - QRS_HALF:peak + QRS_HALF]


def context_features(y: np.ndarray, peaks: np.ndarray, settled: bool = True) -> np.ndarray:
    """Features of every peak of one segment ``y`` (filtered, at MODEL_FS), float32 ``(n, N_CONTEXT)``.

    The same :class:`ContextTracker` the gateway runs: every peak pushed with
    its QRS, then the segment's end settled (``settled=False``: the segment
    was cut short, so the last beat's next peak is unknown) and flushed.
    """
    tracker = ContextTracker()
    done: list[Done] = []
    for p in np.asarray(peaks, dtype=np.int64):
        done += tracker.push(int(p), qrs_at(y, int(p)))
    if settled:
        done += tracker.settle(len(y))
    done += tracker.flush()
    out = np.zeros((len(done), N_CONTEXT), dtype=np.float32)
    for i, (_, features) in enumerate(done):
        out[i] = features
    return out
