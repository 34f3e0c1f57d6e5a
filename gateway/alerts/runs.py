"""Ventricular runs: ``run_min_beats`` or more consecutive ventricular beats.

Raised on the ``run_min_beats``-th V beat, with its rate: at ``run_fast_bpm``
or faster it is ventricular tachycardia (the type's severity, critical by
default), slower a slow ventricular rhythm (high).  Cleared by the first beat
that is not ventricular.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import chain, whole
from .history import BeatLog, BeatRecord
from .ledger import Finding, Ledger
from .types import RUN


@dataclass(frozen=True)
class RunSettings:
    run_min_beats: int = 3
    run_fast_bpm: float = 100.0  # a run at least this fast is ventricular tachycardia (critical), else high

    def __post_init__(self) -> None:
        whole(self, "run_min_beats")
        if self.run_min_beats < 2:
            raise ValueError(f"run_min_beats: a run needs at least 2 beats, got {self.run_min_beats}")
        chain(self, RunSettings)


class VentricularRuns:
    def __init__(self, config: RunSettings, ledger: Ledger, beats: BeatLog):
        self.config, self.ledger, self.beats = config, ledger, beats
        self._run: list[BeatRecord] = []

    def reset(self) -> None:
        """A new segment: a run never spans a gap."""
        self._run = []

    def beat(self, at: int, beat: BeatRecord, category: str) -> list[Finding]:
        c = self.config
        if category != "V":
            out = []
            if len(self._run) >= c.run_min_beats:
                out = self.ledger.clear(RUN, at, f"Ventricular run ended after {len(self._run)} beats.")
            self._run = []
            return out
        self._run.append(beat)
        if len(self._run) != c.run_min_beats:
            return []
        rrs = [b.rr for b in self._run[1:] if b.rr]
        rate = 60.0 * self.beats.fs * len(rrs) / sum(rrs) if rrs else 0.0
        fast = rate >= c.run_fast_bpm
        severity = self.ledger.config.severity_of(RUN) if fast else "high"
        kind_text = "ventricular tachycardia" if fast else "slow ventricular rhythm"
        first = self._run[0].peak
        return self.ledger.alert(RUN, first, at, f"Run of {len(self._run)} consecutive ventricular beats at "
                                 f"{rate:.0f}/min ({kind_text}).", self.beats.counts(first), severity)
