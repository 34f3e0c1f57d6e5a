"""Frequent ectopy: more than a set number of PVCs, or of atrial premature beats, within a window.

One-off events (no clear): the cool-down of each type keeps a persisting
frequency from repeating the alert more often than that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .checks import chain, positive, whole
from .history import BeatLog
from .ledger import Finding, Ledger
from .types import FREQUENT_APB, FREQUENT_PVC


@dataclass(frozen=True)
class CountSettings:
    pvc_window_s: float = 60.0
    pvc_count: int = 7  # more than 6 PVCs a minute
    apb_window_s: float = 60.0
    apb_count: int = 7  # more than 6 APBs a minute

    def __post_init__(self) -> None:
        positive(self, "pvc_window_s", "apb_window_s")
        whole(self, "pvc_count", "apb_count")
        chain(self, CountSettings)


class EctopyCounts:
    def __init__(self, config: CountSettings, ledger: Ledger, beats: BeatLog):
        self.config, self.ledger, self.beats = config, ledger, beats
        self._recent: dict[str, deque[int]] = {"V": deque(), "A": deque()}  # recent peaks per category

    def beat(self, at: int, peak: int, category: str) -> list[Finding]:
        c = self.config
        if category == "V":
            return self._frequency(at, peak, "V", FREQUENT_PVC, c.pvc_window_s, c.pvc_count, "PVCs")
        if category == "A":
            return self._frequency(at, peak, "A", FREQUENT_APB, c.apb_window_s, c.apb_count,
                                   "atrial premature beats")
        return []

    def _frequency(self, at: int, peak: int, category: str, kind: str, window_s: float, count: int,
                   what: str) -> list[Finding]:
        """``peak`` is of ``category``: raise ``kind`` if at least ``count`` such beats lie within ``window_s``."""
        hits = self._recent[category]
        hits.append(peak)
        since = peak - self.beats.samples(window_s)
        while hits and hits[0] <= since:
            hits.popleft()
        if len(hits) < count:
            return []
        return self.ledger.alert(kind, hits[0], at, f"{len(hits)} {what} in the last {window_s:.0f} s.",
                                 self.beats.counts(since))
