"""RR-interval features of each beat: its timing against the patient's own recent rhythm.

A beat image cannot show prematurity: below about 85 beats/min the
neighbouring R peaks fall outside the 512-sample window, and an atrial
premature beat looks like a normal one apart from arriving early.  So the
model gets, beside the image, four numbers computed here from the
detector's R peaks alone (never from reference annotations), by this one
code path in training and in the gateway:

* ``pre``: log2 of this beat's RR interval over the local RR, the median
  of the up to :data:`HISTORY` intervals before it (< 0: premature);
* ``prev``: the same ratio for the previous beat (a premature beat after a
  normal interval, bigeminy, runs);
* ``long``: log2 of this beat's RR over the median of the up to
  :data:`LONG_HISTORY` intervals before it, so a run of premature beats
  still stands out once the short median has adapted to it;
* ``rate``: log2 of the local RR over one second (the patient's rate,
  which sets what an escape beat or a pause is).

Only intervals *before* the beat are used, so a beat can be classified as
soon as its window is complete, without waiting for the next R peak.  An
interval longer than :data:`MAX_RR_S` (a pause, a missed detection, a gap
in the signal) does not enter the history; values are clipped to
``+-CLIP`` and are 0 where not yet known (the first beats of a segment),
so the model never sees an unbounded or undefined input.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .spec import MODEL_FS

#: Names of the features, in model-input order (recorded in the model metadata).
RR_FEATURES = ("pre", "prev", "long", "rate")
N_RR = len(RR_FEATURES)
#: Intervals the local RR is the median of.
HISTORY = 16
#: Intervals the long-term RR is the median of (about 1.5 to 2 minutes).
LONG_HISTORY = 128
#: Longer intervals are not rhythm but pauses or gaps: kept out of the history.
MAX_RR_S = 3.0
#: Bound of every feature (log2 units: a factor of 4 either way).
CLIP = 2.0


class RRTracker:
    """RR features of successive R peaks of one uninterrupted segment.

    Push every detected peak in order (sample indices at ``fs``); call
    :meth:`reset` when the signal is interrupted, since an interval across
    a gap is not an RR interval.
    """

    def __init__(self, fs: float = MODEL_FS) -> None:
        self.fs = float(fs)
        self._intervals: deque[float] = deque(maxlen=LONG_HISTORY)
        self._last_peak: int | None = None
        self._last_ratio = 0.0

    def reset(self) -> None:
        """Forget the history (a new segment starts)."""
        self._intervals.clear()
        self._last_peak = None
        self._last_ratio = 0.0

    def push(self, peak: int) -> np.ndarray:
        """Features of the beat peaking at ``peak`` (float32 ``(N_RR,)``); peaks must ascend."""
        if self._last_peak is not None and peak <= self._last_peak:
            raise ValueError(f"R peaks must ascend: {peak} after {self._last_peak}")
        rr = None if self._last_peak is None else (peak - self._last_peak) / self.fs
        self._last_peak = peak
        pre = long = rate = 0.0
        if self._intervals:
            recent = list(self._intervals)
            local = float(np.median(recent[-HISTORY:]))
            rate = _log2_clipped(local)
            if rr is not None:
                pre = _log2_clipped(rr / local)
                long = _log2_clipped(rr / float(np.median(recent)))
        features = np.array([pre, self._last_ratio, long, rate], dtype=np.float32)
        self._last_ratio = pre
        if rr is not None and rr <= MAX_RR_S:
            self._intervals.append(rr)
        return features


def _log2_clipped(x: float) -> float:
    return float(np.clip(np.log2(x), -CLIP, CLIP))


def rr_features(peaks: np.ndarray, fs: float = MODEL_FS) -> np.ndarray:
    """Features of every peak of one segment, float32 ``(n, N_RR)``: :class:`RRTracker` over them."""
    tracker = RRTracker(fs)
    out = np.zeros((len(peaks), N_RR), dtype=np.float32)
    for i, p in enumerate(np.asarray(peaks, dtype=np.int64)):
        out[i] = tracker.push(int(p))
    return out
