"""Ventricular flutter/fibrillation, from the rhythm detector's windows (gateway.signal.rhythm).

A window that the detector calls ``vf`` raises at once; a ``vf_like`` one
raises only when ``vf_flutter_beats`` beats inside it were labelled flutter
by the classifier.  ``vf_clear_windows`` windows in a row without flutter end
the episode (flutter episodes fragment, and a clear-and-raise every few
seconds would be noise).  While flutter-like waves are seen, other rules
know that R peaks are not beats (:attr:`FlutterRule.seen`, :attr:`in_run`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..signal.rhythm import RhythmWindow
from .checks import chain, whole
from .history import BeatLog
from .ledger import Finding, Ledger
from .types import VF


@dataclass(frozen=True)
class FlutterSettings:
    flutter_labels: tuple[str, ...] = ("!",)
    # beats labelled flutter that confirm one vf_like window without waiting
    vf_flutter_beats: int = 3  # chosen on the vfdb tuning records (docs/vf.md): 2 raised one false alarm more
    vf_clear_windows: int = 8  # windows without flutter that end an episode (episodes fragment)

    def __post_init__(self) -> None:
        whole(self, "vf_flutter_beats", "vf_clear_windows")
        chain(self, FlutterSettings)


class FlutterRule:
    def __init__(self, config: FlutterSettings, ledger: Ledger, beats: BeatLog):
        self.config, self.ledger, self.beats = config, ledger, beats
        self.reset()

    def reset(self) -> None:
        """A new segment: what was seen before the gap says nothing of what follows."""
        self._run_start: int | None = None
        self._quiet = 0
        #: end of the last flutter-like window: beats before it are unreliable
        self.seen: int | None = None

    @property
    def in_run(self) -> bool:
        """The latest window was flutter-like."""
        return self._run_start is not None

    def window(self, at: int, window: RhythmWindow, window_samples: int) -> list[Finding]:
        c = self.config
        start = at - window_samples
        flutter_beats = sum(1 for b in self.beats.records
                            if start <= b.peak < at and b.label in c.flutter_labels)
        if window.vf_like:
            self.seen = at
            if self._run_start is None:
                self._run_start = start
            self._quiet = 0
        else:
            self._quiet += 1
        out: list[Finding] = []
        if window.vf or (window.vf_like and flutter_beats >= c.vf_flutter_beats):
            why = "sine-like ventricular waves" + (f", {flutter_beats} beats labelled flutter" if flutter_beats else "")
            out = self.ledger.alert(VF, self._run_start if self._run_start is not None else start, at,
                                    f"Ventricular flutter/fibrillation ({why}).", self.beats.counts(start))
        elif self._quiet >= c.vf_clear_windows:
            out = self.ledger.clear(VF, at, "Ventricular flutter/fibrillation ended.")
        if not window.vf_like:
            self._run_start = None
        return out
