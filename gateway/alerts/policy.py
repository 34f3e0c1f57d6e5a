"""The alert policy: beats, rhythm windows and lead state in, rhythm alerts out.

The policy is deliberately plain data and integer sample arithmetic so that
it gives the same alerts however the stream was cut into frames: every
input carries ``at``, the absolute 360 Hz sample at which the processor
could first know it (a beat: its R peak + the 256-sample window after it;
a rhythm window: its end), the processor hands inputs over in that order,
and time-outs (pause, lead-off debounce) are stamped with the exact sample
they expire and decided on the inputs up to that sample, not on when the
next frame happens to arrive.

Each kind of alert is a rule in a module of its own (runs, patterns,
counts, rate, flutter, lead_signal) reading the shared :class:`BeatLog` and
raising through the shared :class:`Ledger`; this class only routes each
input to the rules that read it, in a fixed order.  The rules, their
thresholds, severities, debounces and cool-downs are the table in
docs/alerts.md.

The policy does not draw strips or build :class:`gateway.events.Alert`
objects: it returns :class:`Finding`\\ s, and the processor, which has the
signal and the clock, turns them into alerts.
"""

from __future__ import annotations

from ..signal.rhythm import RhythmWindow
from ..signal.spec import MODEL_FS
from .atrial import AtrialFibrillation
from .config import AlertConfig
from .counts import EctopyCounts
from .flutter import FlutterRule
from .history import BeatLog, BeatRecord
from .lead_signal import LeadRule, QualityRule
from .ledger import Finding, Ledger
from .patterns import Patterns
from .rate import PauseRule, RateRule
from .runs import VentricularRuns
from .types import ASYSTOLE, BIGEMINY, PAUSE, RUN, TRIGEMINY, VF


class AlertPolicy:
    """The alert rules for one device.  Feed it in ``at`` order; it returns findings."""

    def __init__(self, config: AlertConfig | None = None, fs: int = MODEL_FS):
        self.config = c = config or AlertConfig()
        self.fs = fs
        self.beats = BeatLog(c, fs)
        self.ledger = Ledger(c, self.beats)
        self._lead = LeadRule(c, self.ledger, self.beats)
        self._quality = QualityRule(c, self.ledger, self.beats)
        self._flutter = FlutterRule(c, self.ledger, self.beats)
        self._runs = VentricularRuns(c, self.ledger, self.beats)
        self._patterns = Patterns(c, self.ledger, self.beats)
        self._counts = EctopyCounts(c, self.ledger, self.beats)
        self._rate = RateRule(c, self.ledger, self.beats, self._flutter)
        self._pauses = PauseRule(c, self.ledger, self.beats, self._flutter, self._lead)
        self._af = AtrialFibrillation(c, self.ledger, self.beats)

    def heart_rate(self, at: int | None = None) -> float | None:
        """Beats per minute over the last ``rate_window_s`` before ``at`` (the newest beat if None)."""
        return self.beats.heart_rate(at)

    def active(self) -> tuple[str, ...]:
        """The conditions raised and not yet cleared."""
        return self.ledger.active()

    @property
    def lead_on(self) -> bool:
        return self._lead.on

    def af_burden(self) -> float:
        """AF time over the analysed time, all segments so far."""
        return self._af.burden()

    def clean_share(self) -> float | None:
        """Share of the last ``poor_signal_window_s`` of rhythm windows judged clean (None: none yet)."""
        return self._quality.clean_share()

    def _new_segment_state(self) -> None:
        self.beats.last_peak = None
        for rule in (self._runs, self._patterns, self._flutter):
            rule.reset()

    # ------------------------------------------------------------- inputs
    def segment_start(self, at: int) -> list[Finding]:
        """A new stretch of usable signal begins at absolute sample ``at``."""
        self.beats.segment_start = at
        self._quality.reset()
        self._new_segment_state()
        return []

    def segment_end(self, at: int, why: str) -> list[Finding]:
        """The usable signal ends at ``at`` (gap, lead off, device gone): episodes in progress end."""
        out = self.advance(at)
        out += self._af.reset(at)
        for kind in (PAUSE, ASYSTOLE, RUN, VF, BIGEMINY, TRIGEMINY):
            out += self.ledger.clear(kind, at, f"{kind.replace('_', ' ')} no longer followed: {why}", now=True)
        self.beats.segment_start = None
        self._new_segment_state()
        return out

    def beat(self, at: int, peak: int, label: str | None, rr: int | None) -> list[Finding]:
        """A detected beat (``label`` None if it could not be classified); ``at`` = when it was known."""
        out = self.advance(at)
        record = BeatRecord(peak, label, rr)
        self.beats.add(record)
        out += self._pauses.beat(at, peak)
        self.beats.last_peak = peak
        category = self.beats.category(label)
        reliable = not self._quality.unreliable(peak)
        out += self._af.beat(at, peak, rr, label, not self._quality.unreliable(peak, labels=False))
        if category in ("V", "A") and not reliable:
            category = "?"  # a label read in noise is no evidence for runs, counts or patterns
        out += self._runs.beat(at, record, category)
        out += self._patterns.beat(at, peak, category)
        out += self._counts.beat(at, peak, category)
        out += self._rate.beat(at)
        return out

    def rhythm(self, at: int, window: RhythmWindow, window_samples: int) -> list[Finding]:
        """One flutter/fibrillation analysis window ending at absolute sample ``at``."""
        out = self.advance(at)
        out += self._flutter.window(at, window, window_samples)
        out += self._quality.window(at, window.noisy, window_samples, window.unreadable)
        return out

    def lead(self, at: int, on: bool, reason: str) -> list[Finding]:
        """The lead state changed at ``at`` (``reason``: flag / saturated / flat / ok)."""
        return self.advance(at) + self._lead.lead(at, on, reason)

    def signal_lost(self, at: int, seconds: float) -> list[Finding]:
        """No frame for ``seconds`` (from the adapter's clock); ``at`` = the last sample received."""
        return self._lead.lost(at, seconds)

    def signal_back(self, at: int) -> list[Finding]:
        """Data arrives again after a signal loss."""
        return self._lead.back(at)

    def advance(self, at: int) -> list[Finding]:
        """The processor has seen everything up to ``at``: raise what has timed out by then."""
        return self.ledger.advance(at) + self._lead.advance(at) + self._pauses.advance(at)
