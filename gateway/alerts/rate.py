"""Heart rate and pauses: bradycardia, tachycardia, pause and asystole.

*Rate* alerts judge the mean rate over ``rate_window_s`` once a whole window
lies inside the segment, with ``rate_hysteresis_bpm`` between raise and clear;
a window holding a pause is not bradycardia (the pause is its own alert),
and no rate is taken from R peaks in flutter/fibrillation.

*Pauses* are due at the sample where the beats known (``at - WINDOW_AFTER``)
have shown a beat-free stretch of ``pause_s`` / ``asystole_s`` while the
signal is present; they are raised at the first call *after* that sample,
so the state they see is every input up to the due sample, whatever the
framing, and they are stamped with that sample.  Flutter waves are not
beats, but not a pause either.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..signal.spec import WINDOW_AFTER
from .checks import chain, positive
from .flutter import FlutterRule
from .history import BeatLog
from .lead_signal import LeadRule
from .ledger import Finding, Ledger
from .types import ASYSTOLE, BRADYCARDIA, PAUSE, POOR_SIGNAL, TACHYCARDIA, VF


@dataclass(frozen=True)
class RateSettings:
    # heart rate over the last rate_window_s (also how long brady/tachy must last)
    rate_window_s: float = 10.0
    bradycardia_bpm: float = 40.0
    tachycardia_bpm: float = 150.0
    rate_hysteresis_bpm: float = 5.0
    # no beat while the signal is present
    pause_s: float = 3.0
    asystole_s: float = 6.0

    def __post_init__(self) -> None:
        positive(self, "rate_window_s", "bradycardia_bpm", "tachycardia_bpm", "pause_s", "asystole_s")
        if self.bradycardia_bpm >= self.tachycardia_bpm:
            raise ValueError(f"bradycardia_bpm ({self.bradycardia_bpm}) must be below tachycardia_bpm "
                             f"({self.tachycardia_bpm})")
        if self.asystole_s < self.pause_s:
            raise ValueError(f"asystole_s ({self.asystole_s}) must not be shorter than pause_s ({self.pause_s})")
        chain(self, RateSettings)


class RateRule:
    def __init__(self, config: RateSettings, ledger: Ledger, beats: BeatLog, flutter: FlutterRule):
        self.config, self.ledger, self.beats, self.flutter = config, ledger, beats, flutter

    def beat(self, at: int) -> list[Finding]:
        c, beats = self.config, self.beats
        out: list[Finding] = []
        window = beats.samples(c.rate_window_s)
        if beats.segment_start is None or at - WINDOW_AFTER - beats.segment_start < window:
            return out  # the window does not lie inside this segment yet
        since = at - WINDOW_AFTER - window
        hr = beats.heart_rate(at)
        if hr is None or (self.flutter.seen is not None and since < self.flutter.seen):
            return out  # R peaks are not beats in flutter/fibrillation: no rate from them
        paused = any(b.rr and b.rr > beats.samples(c.pause_s) for b in beats.records if b.peak > since)
        if hr < c.bradycardia_bpm and not paused:  # a pause is its own alert, not a slow rate
            out += self.ledger.alert(BRADYCARDIA, since, at,
                                     f"Bradycardia: {hr:.0f}/min over {c.rate_window_s:.0f} s.", beats.counts(since))
        elif hr >= c.bradycardia_bpm + c.rate_hysteresis_bpm:
            out += self.ledger.clear(BRADYCARDIA, at, f"Heart rate back to {hr:.0f}/min.")
        if hr > c.tachycardia_bpm:
            out += self.ledger.alert(TACHYCARDIA, since, at,
                                     f"Tachycardia: {hr:.0f}/min over {c.rate_window_s:.0f} s.", beats.counts(since))
        elif hr <= c.tachycardia_bpm - c.rate_hysteresis_bpm:
            out += self.ledger.clear(TACHYCARDIA, at, f"Heart rate back to {hr:.0f}/min.")
        return out


class PauseRule:
    def __init__(self, config: RateSettings, ledger: Ledger, beats: BeatLog, flutter: FlutterRule,
                 lead: LeadRule):
        self.config, self.ledger, self.beats, self.flutter, self.lead = config, ledger, beats, flutter, lead

    def beat(self, at: int, peak: int) -> list[Finding]:
        """A beat after ``last_peak`` ends the pause (call before the log's ``last_peak`` moves on)."""
        last = self.beats.last_peak
        if last is None:
            return []
        gap_s = (peak - last) / self.beats.fs
        out: list[Finding] = []
        for kind in (ASYSTOLE, PAUSE):
            out += self.ledger.clear(kind, at, f"beats resumed after {gap_s:.1f} s without a beat")
        return out

    def advance(self, at: int) -> list[Finding]:
        """Raise the pauses that are due before ``at``."""
        c, beats = self.config, self.beats
        ref = beats.last_peak if beats.last_peak is not None else beats.segment_start
        if ref is not None and self.flutter.seen is not None:
            ref = max(ref, self.flutter.seen)  # flutter waves are not beats, but not a pause either
        if ref is None or not self.lead.on or self.ledger.raised(VF) or self.flutter.in_run:
            return []
        out: list[Finding] = []
        for kind, seconds in ((PAUSE, c.pause_s), (ASYSTOLE, c.asystole_s)):
            due = ref + beats.samples(seconds) + WINDOW_AFTER
            if at > due and not self.ledger.ongoing(kind):
                quality = " (signal quality poor: may be artefact)" if self.ledger.raised(POOR_SIGNAL) else ""
                out += self.ledger.alert(kind, ref, due, f"No beat for {seconds:g} s{quality}.", beats.counts(ref))
        return out
