"""The beat's context: its timing and its shape against the patient's own recent beats.

A beat image alone generalises poorly to a patient the model has not seen.
It cannot show prematurity: below about 85 beats/min the neighbouring R
peaks fall outside the 512-sample window, and an atrial premature beat
looks like a normal one apart from arriving early.  And what a normal QRS
looks like differs from patient to patient (a bundle branch block makes
every beat wide), so "wide" alone does not mean ventricular.  So the
model gets, beside the image, seven numbers computed here from the
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
* ``shape``: the correlation of the beat's QRS (+-:data:`QRS_HALF`
  samples around the R peak) with the patient's template, the pointwise
  median QRS of the up to :data:`TEMPLATE_BEATS` beats before it (1: the
  patient's usual beat, whatever its form);
* ``height``: log2 of the QRS's peak-to-peak amplitude over the template's.

Only what precedes the beat is used, so a beat is classified as soon as
its window is complete.  (The interval to the *next* beat, the
compensatory pause, was tried: it helps tell premature beats apart, but
makes every beat wait for the next R peak, up to seconds in a pause, and
the pause and rate alerts rest on beats arriving 256 samples after their
peak.)  Intervals longer than :data:`MAX_RR_S` (a pause, a missed
detection) do not enter the history; every feature is clipped to
``+-CLIP`` and is 0 where not yet known (the first beats of a segment), so
the model never sees an unbounded or undefined input.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .spec import MODEL_FS

#: Names of the features, in model-input order (recorded in the model metadata).
CONTEXT_FEATURES = ("pre", "prev", "long", "rate", "irregularity", "shape", "height")
N_CONTEXT = len(CONTEXT_FEATURES)
_PRE, _PREV, _LONG, _RATE, _IRREGULARITY, _SHAPE, _HEIGHT = range(N_CONTEXT)
#: Intervals the local RR is the median of.
HISTORY = 16
#: Intervals the long-term RR is the median of (about 1.5 to 2 minutes).
LONG_HISTORY = 128
#: Longer intervals are not rhythm but pauses or gaps: kept out of the history.
MAX_RR_S = 3.0
#: Bound of every feature (log2 units: a factor of 4 either way).
CLIP = 2.0
#: Half-width of the QRS compared with the template, in samples at MODEL_FS (0.1 s).
QRS_HALF = 36
#: Beats the template is the median of, and how many it needs before it is used.
TEMPLATE_BEATS = 16
MIN_TEMPLATE_BEATS = 4


class ContextTracker:
    """Context features of successive R peaks of one uninterrupted segment.

    Push every detected peak in order (sample indices at MODEL_FS) with its
    QRS, ``y[peak - QRS_HALF:peak + QRS_HALF]`` of the filtered signal
    (``None`` where the segment does not hold all of it); call :meth:`reset`
    when the signal is interrupted, since an interval across a gap is not an
    RR interval.
    """

    def __init__(self) -> None:
        self._intervals: deque[float] = deque(maxlen=LONG_HISTORY)
        self._qrs: deque[np.ndarray] = deque(maxlen=TEMPLATE_BEATS)
        self._last_peak: int | None = None
        self._last_ratio = 0.0

    def reset(self) -> None:
        """Forget the history (a new segment starts)."""
        self._intervals.clear()
        self._qrs.clear()
        self._last_peak = None
        self._last_ratio = 0.0

    def push(self, peak: int, qrs: np.ndarray | None) -> np.ndarray:
        """Features of the beat at ``peak`` with QRS ``qrs`` (float32 ``(N_CONTEXT,)``); peaks must ascend."""
        if self._last_peak is not None and peak <= self._last_peak:
            raise ValueError(f"R peaks must ascend: {peak} after {self._last_peak}")
        rr = None if self._last_peak is None else (peak - self._last_peak) / MODEL_FS
        self._last_peak = peak
        features = np.zeros(N_CONTEXT, dtype=np.float32)
        features[_PREV] = self._last_ratio
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
            # a copy: a view would keep the caller's whole signal buffer alive in the template
            features[_SHAPE], features[_HEIGHT] = self._compare(np.array(qrs, dtype=np.float64))
        return features

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


def _log2_clipped(x: float) -> float:
    return float(np.clip(np.log2(x), -CLIP, CLIP))


def qrs_at(y: np.ndarray, peak: int) -> np.ndarray | None:
    """The QRS of the beat at ``peak`` in the filtered segment ``y``, or None if ``y`` does not hold it all."""
    if peak - QRS_HALF < 0 or peak + QRS_HALF > len(y):
        return None
    return y[peak - QRS_HALF:peak + QRS_HALF]


def context_features(y: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Features of every peak of one segment ``y`` (filtered, at MODEL_FS), float32 ``(n, N_CONTEXT)``.

    The same :class:`ContextTracker` the gateway runs, every peak pushed with its QRS.
    """
    tracker = ContextTracker()
    out = np.zeros((len(peaks), N_CONTEXT), dtype=np.float32)
    for i, p in enumerate(np.asarray(peaks, dtype=np.int64)):
        out[i] = tracker.push(int(p), qrs_at(y, int(p)))
    return out
