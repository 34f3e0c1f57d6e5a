"""Atrial fibrillation/flutter: the RR-irregularity detector (gateway.signal.af) as an alert.

Raised at the detector's onset, stamped where it dates the episode's start;
cleared when it ends (or when the segment ends: AF cannot be followed across
a gap).  RR intervals next to beats the classifier calls ectopic are left out
by the detector; beats in noisy stretches give it no interval, since motion
and muscle artefact make RR intervals irregular too.  AF burden (AF time over
analysed time) runs over all segments and goes in the status.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..signal.af import AFChange, AFConfig, AFDetector
from .checks import chain
from .history import BeatLog
from .ledger import Finding, Ledger
from .types import AF


@dataclass(frozen=True)
class AFSettings:
    af_labels_excluded: tuple[str, ...] = ("V", "E", "F", "!")  # beats whose RRs are not rhythm

    def __post_init__(self) -> None:
        chain(self, AFSettings)


class AtrialFibrillation:
    def __init__(self, config: AFSettings, ledger: Ledger, beats: BeatLog):
        self.ledger, self.beats = ledger, beats
        self.detector = AFDetector(AFConfig(exclude=tuple(config.af_labels_excluded)), beats.fs)

    def beat(self, at: int, peak: int, rr: int | None, label: str | None, reliable: bool) -> list[Finding]:
        return self._change(at, self.detector.push(peak, rr if reliable else None, label))

    def reset(self, at: int) -> list[Finding]:
        """The segment ended at ``at``."""
        return self._change(at, self.detector.reset(), now=True)

    def _change(self, at: int, change: AFChange | None, now: bool = False) -> list[Finding]:
        if change is None:
            return []
        if change.onset:
            return self.ledger.alert(AF, change.sample, at, "Atrial fibrillation or flutter: irregularly "
                                     "irregular RR intervals.", self.beats.counts(change.sample))
        return self.ledger.clear(AF, change.sample, "Atrial fibrillation/flutter ended.", now=now)

    def burden(self) -> float:
        return self.detector.burden()
