"""The recent beats every rule reads: heart rate, label counts and each label's category."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..signal.spec import WINDOW_AFTER

if TYPE_CHECKING:
    from .config import AlertConfig


@dataclass(frozen=True)
class LabelSettings:
    """Which model labels count as what (seed8 and aami5 label sets both covered)."""

    ventricular_labels: tuple[str, ...] = ("V",)
    atrial_labels: tuple[str, ...] = ("A", "S")


@dataclass
class BeatRecord:
    peak: int
    label: str | None  # None: detected but not classifiable (at a segment edge)
    rr: int | None  # samples since the previous beat of the segment


@dataclass
class BeatLog:
    """The beats of the last ``max(pvc_window_s, apb_window_s, rate_window_s)``, and where the segment began."""

    config: AlertConfig
    fs: int
    records: deque[BeatRecord] = field(default_factory=deque)
    segment_start: int | None = None  # absolute sample where the current segment began (None: no segment)
    last_peak: int | None = None  # the newest beat of the current segment

    def __post_init__(self) -> None:
        c = self.config
        self._history = self.samples(max(c.pvc_window_s, c.apb_window_s, c.rate_window_s))
        self._rate_window = self.samples(c.rate_window_s)

    def samples(self, seconds: float) -> int:
        return int(round(seconds * self.fs))

    def add(self, record: BeatRecord) -> None:
        self.records.append(record)
        while self.records and self.records[0].peak < record.peak - self._history:
            self.records.popleft()

    def heart_rate(self, at: int | None = None) -> float | None:
        """Beats per minute over the last ``rate_window_s`` before ``at`` (the newest beat if None).

        A beat becomes known ``WINDOW_AFTER`` samples after its peak, so the
        rate at ``at`` is the rate of the beats peaking before ``at - WINDOW_AFTER``.
        """
        if not self.records:
            return None
        end = self.records[-1].peak if at is None else at - WINDOW_AFTER
        since = end - self._rate_window
        rrs = [b.rr for b in self.records if b.peak > since and b.peak <= end and b.rr]
        if not rrs:
            return None
        return 60.0 * self.fs * len(rrs) / sum(rrs)

    def counts(self, since: int) -> dict[str, int]:
        """Beats per label from ``since`` on (``"?"``: not classified)."""
        return dict(Counter(b.label or "?" for b in self.records if b.peak >= since))

    def category(self, label: str | None) -> str:
        """``"V"`` ventricular, ``"A"`` atrial premature, ``"n"`` other, ``"?"`` not classified."""
        c = self.config
        if label is None:
            return "?"
        if label in c.ventricular_labels:
            return "V"
        if label in c.atrial_labels:
            return "A"
        return "n"
