"""Atrial fibrillation / flutter from RR irregularity: the coefficient of sample entropy.

In AF the ventricles follow a chaotic atrial rhythm, so RR intervals are
unpredictable; ectopy, bigeminy and trigeminy are irregular but repeat a
pattern.  Sample entropy is minus the log of the chance that two stretches
matching for one interval (within ``r``) match for the next too (Richman &
Moorman, Am J Physiol 278:H2039, 2000); the coefficient of sample entropy
(Lake & Moorman, Am J Physiol Heart Circ Physiol 300:H319, 2011) corrects
for ``r`` and rate: ``COSEn = ln(B / A) + ln(2r / mean RR)``, ``m = 1``,
``r = 30 ms``, ``B`` / ``A`` the matching pairs of single intervals / pairs.

Why: on the tuning records (MIT-BIH DS1, docs/af.md) it kept AF apart from
ectopy best of three established measures; Petrenas et al.'s low-complexity
detector (Comput Biol Med 65:184, 2015) and nRMSSD + turning points +
Shannon entropy (Dash et al., Ann Biomed Eng 37:1701, 2009) fire on
frequent PVCs and bigeminy.  Changes, chosen on DS1: 64 intervals per
estimate (Lake & Moorman: 12-16); RRs next to ectopic beats left out: beats
labelled in ``exclude`` (the classifier's V E F !) and, if unlabelled, a
premature RR (``premature`` short of the median of the last ``history``)
followed by a long one (the compensatory pause; the aim of Petrenas et al.'s
ectopic filter); RRs outside ``min_rr_s`` .. ``max_rr_s`` are not rhythm.

AF starts when COSEn rises above ``onset`` and ends once it stayed below
``offset`` for ``end_confirm`` estimates (hysteresis in level and time: one
noisy estimate does not split an episode).  Changes are dated half a window
before the first estimate beyond the threshold (a segment's first window:
from its start).  Per beat: O(window) exact updates of ``A`` and ``B`` (4
numpy comparisons; 14-22 us here), O(window) memory.  A segment gap ends the
episode and clears the history (``reset``); the burden counters run on.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .spec import MODEL_FS


@dataclass(frozen=True)
class AFConfig:
    """Parameters of the AF detector (defaults chosen on MIT-BIH DS1, see docs/af.md)."""

    window: int = 64  # RR intervals per COSEn estimate
    tolerance_s: float = 0.03  # r of the sample entropy (Lake & Moorman's 30 ms)
    onset: float = -0.6  # COSEn above which AF starts ...
    offset: float = -0.8  # ... and below which it ends,
    end_confirm: int = 16  # ... once this many estimates in a row were below it
    premature: float = 0.1  # RR this much short of the median, then a long one: ectopic (0: off)
    history: int = 16  # RRs the median for ``premature`` is taken over
    min_rr_s: float = 0.2
    max_rr_s: float = 3.0
    exclude: tuple[str, ...] = ("V", "E", "F", "!")  # beat labels whose RRs are left out

    def __post_init__(self) -> None:
        checks = [
            ("window", isinstance(self.window, int) and self.window >= 8, "an int >= 8 intervals"),
            ("tolerance_s", 0.004 <= self.tolerance_s <= 0.2, "within 0.004..0.2 s"),
            ("onset", math.isfinite(self.onset), "a finite COSEn"),
            ("offset", math.isfinite(self.offset) and self.offset <= self.onset, f"finite, <= onset {self.onset}"),
            ("end_confirm", isinstance(self.end_confirm, int) and self.end_confirm >= 1, "an int >= 1"),
            ("premature", 0 <= self.premature < 1, "within 0..1 (0: off)"),
            ("history", isinstance(self.history, int) and self.history >= 2, "an int >= 2"),
            ("min_rr_s", self.min_rr_s > 0, "> 0 s"),
            ("max_rr_s", self.max_rr_s > self.min_rr_s, f"> min_rr_s {self.min_rr_s}"),
            ("exclude", isinstance(self.exclude, tuple) and all(isinstance(x, str) for x in self.exclude),
             "a tuple of str"),
        ]
        for name, expected in [(name, want) for name, ok, want in checks if not ok][:1]:
            raise ValueError(f"{name}: must be {expected}, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class AFChange:
    """AF began (``onset``) or ended at segment sample ``sample``; decided at R peak ``decided``."""

    onset: bool
    sample: int
    decided: int


class AFDetector:
    """Streaming AF detector over the R peaks of one segment at a time (sans I/O)."""

    def __init__(self, config: AFConfig | None = None, fs: int = MODEL_FS) -> None:
        self.config = c = config or AFConfig()
        self._r = max(1, int(round(c.tolerance_s * fs)))  # match tolerance, samples
        self._rr_range = (c.min_rr_s * fs, c.max_rr_s * fs)
        self._max_se = math.log((c.window - 1) * (c.window - 2) / 2)  # SampEn when A = 0
        self.af_samples = self.analysed_samples = 0  # AF in closed episodes / usable RRs, all segments
        self.in_af = False
        self.reset()

    def reset(self) -> AFChange | None:
        """End the segment: close an open episode at its last beat; forget the rhythm history."""
        change = self._close(self._peaks[-1], self._peaks[-1]) if self.in_af else None
        self.cosen: float | None = None  # the last estimate (None until a window is full)
        self._v = np.zeros(0, dtype=np.int64)  # the window's accepted RRs, oldest first
        self._a = self._b = self._sum = self._run = 0  # _run: estimates in a row beyond the threshold
        self._recent: deque[int] = deque(maxlen=self.config.history)
        self._peaks: deque[int] = deque(maxlen=self.config.window // 2 + 1)
        self._skip_next, self._first, self._segment_start = False, True, 0
        self._pending: tuple[int, int] | None = None  # a short RR and the median it was short of
        return change

    def burden(self) -> float:
        """AF time over the analysed time (usable RRs), all segments so far; at most 1, 0 before any RR."""
        open_part = self._peaks[-1] - self._start if self.in_af else 0
        return min(1.0, (self.af_samples + open_part) / self.analysed_samples) if self.analysed_samples else 0.0

    def push(self, peak: int, rr: int | None, label: str | None = None) -> AFChange | None:
        """Feed one beat: its R peak, the RR ending there (None: first of the segment), its label."""
        if self._peaks and peak <= self._peaks[-1]:
            raise ValueError(f"R peaks must ascend: {peak} after {self._peaks[-1]}")
        self._segment_start = self._segment_start if self._peaks else peak
        self._peaks.append(peak)
        ectopic = label is not None and label in self.config.exclude
        skip, self._skip_next = self._skip_next or ectopic, ectopic  # the RRs into and out of it
        if rr is None or not self._rr_range[0] <= rr <= self._rr_range[1]:
            self._pending = None
            return None  # no rhythm interval ends here
        self.analysed_samples += rr
        if not self._accept(rr, skip, label is None) or self._v.size < self.config.window:
            return None
        se = math.log(self._b / self._a) if self._a else self._max_se
        self.cosen = se + math.log(2 * self._r * self.config.window / self._sum)
        return self._decide(peak)

    def _accept(self, rr: int, skip: bool, unlabelled: bool) -> bool:
        """Add the intervals that are rhythm, not ectopy, to the window; whether ``rr`` was added."""
        c, pending, self._pending = self.config, self._pending, None
        recent = sorted(self._recent)
        self._recent.append(rr)
        if skip:
            return False
        if pending is not None:
            if rr > pending[1]:
                return False  # premature, then compensatory: both left out
            self._add(pending[0])
        median = recent[len(recent) // 2] if len(recent) >= c.history // 2 else 0
        if c.premature and unlabelled and rr < (1 - c.premature) * median:
            self._pending = (rr, median)  # premature? the next interval says
            return False
        self._add(rr)
        return True

    def _decide(self, peak: int) -> AFChange | None:
        c, first, self._first = self.config, self._first, False
        if not (self.cosen < c.offset if self.in_af else self.cosen > c.onset):
            self._run = 0
            return None
        if not self._run:  # dated half a window back (a segment's first window: from its start)
            self._date = self._segment_start if first else self._peaks[0]
        self._run += 1
        if self.in_af:
            return self._close(self._date, peak) if self._run >= c.end_confirm else None
        self.in_af, self._start, self._run = True, self._date, 0
        return AFChange(True, self._start, peak)

    def _close(self, end: int, decided: int) -> AFChange:
        self.in_af, self._run = False, 0
        self.af_samples += end - self._start
        return AFChange(False, end, decided)

    def _add(self, x: int) -> None:
        """Append ``x``, updating B and A exactly: templates are the window's RRs but the newest
        (N - m), so the oldest template's pairs leave and the one just completed joins."""
        v, r, n = self._v, self._r, self._v.size
        full = n == self.config.window
        if full:  # template v[0] and the pair (v[0], v[1]) leave
            m = np.abs(v[1:-1] - v[0]) <= r
            self._b -= int(np.count_nonzero(m))
            self._a -= int(np.count_nonzero(m & (np.abs(v[2:] - v[1]) <= r)))
        if n:  # template v[-1] and the pair (v[-1], x) join
            m = np.abs(v[int(full):-1] - v[-1]) <= r
            self._b += int(np.count_nonzero(m))
            self._a += int(np.count_nonzero(m & (np.abs(v[int(full) + 1:] - x) <= r)))
        self._sum += x - (int(v[0]) if full else 0)
        self._v = np.append(v[1:] if full else v, x)


def af_episodes(peaks: Iterable[int], labels: Iterable[str | None] | None = None,
                config: AFConfig | None = None, fs: int = MODEL_FS) -> tuple[list[tuple[int, int, int]], AFDetector]:
    """Offline (training, benchmarks): the streaming detector over every R peak of one segment.

    Episodes ``[(start, end, decided)]`` in samples (``decided``: the R peak that raised the
    onset; one open at the end closes at the last beat) and the detector, for its burden."""
    det, beats = AFDetector(config, fs), [int(p) for p in peaks]
    tags = list(labels) if labels is not None else [None] * len(beats)
    if len(tags) != len(beats):
        raise ValueError(f"labels: expected one per peak ({len(beats)}), got {len(tags)}")
    changes = [det.push(p, p - beats[i - 1] if i else None, tag) for i, (p, tag) in enumerate(zip(beats, tags))]
    changes.append(det.reset())
    onsets, ends = [ch for ch in changes if ch and ch.onset], [ch for ch in changes if ch and not ch.onset]
    return [(on.sample, end.sample, on.decided) for on, end in zip(onsets, ends)], det
