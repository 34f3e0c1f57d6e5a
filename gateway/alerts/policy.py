"""The alert policy: beats, rhythm windows and lead state in, rhythm alerts out.

The policy is deliberately plain data and integer sample arithmetic so that
it gives the same alerts however the stream was cut into frames: every
input carries ``at``, the absolute 360 Hz sample at which the processor
could first know it (a beat: its R peak + the 256-sample window after it;
a rhythm window: its end), the processor hands inputs over in that order,
and time-outs (pause, lead-off debounce) are stamped with the exact sample
they expire and decided on the inputs up to that sample, not on when the
next frame happens to arrive.

The rules, their thresholds, severities, debounces and cool-downs are the
table in docs/alerts.md; :class:`AlertConfig` holds them (the ``[alerts]``
section of the gateway config).  Two kinds of alert:

* *events* (frequent PVCs, frequent APBs) are raised once; the cool-down
  keeps a persisting condition from repeating them more often than that.
* *conditions* (everything else) are raised when they start and
  ``cleared`` when they end, so a caregiver knows the episode is over; a
  condition that ends and restarts within its cool-down is not re-raised.

The policy does not draw strips or build :class:`gateway.events.Alert`
objects: it returns :class:`Finding`\\ s, and the processor, which has the
signal and the clock, turns them into alerts.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..signal.rhythm import RhythmWindow
from ..signal.spec import MODEL_FS, WINDOW_AFTER

# Alert types (the ``type`` field of an Alert).
VF = "ventricular_fibrillation"
RUN = "ventricular_run"
FREQUENT_PVC = "frequent_pvc"
BIGEMINY = "bigeminy"
TRIGEMINY = "trigeminy"
FREQUENT_APB = "frequent_apb"
BRADYCARDIA = "bradycardia"
TACHYCARDIA = "tachycardia"
PAUSE = "pause"
ASYSTOLE = "asystole"
LEAD_OFF = "lead_off"
SIGNAL_LOST = "signal_lost"
POOR_SIGNAL = "poor_signal"

SEVERITIES = ("critical", "high", "medium", "low", "info")

#: Default severity of each alert type (a ventricular run's severity also
#: depends on its rate, see :attr:`AlertConfig.run_fast_bpm`).
DEFAULT_SEVERITY: dict[str, str] = {
    VF: "critical", RUN: "critical", FREQUENT_PVC: "medium", BIGEMINY: "medium", TRIGEMINY: "medium",
    FREQUENT_APB: "low", BRADYCARDIA: "high", TACHYCARDIA: "high", PAUSE: "high", ASYSTOLE: "critical",
    LEAD_OFF: "high", SIGNAL_LOST: "high", POOR_SIGNAL: "low",
}
#: Default cool-down of each type, seconds: no second raise of the type within it.
DEFAULT_COOLDOWN: dict[str, float] = {
    VF: 0.0, RUN: 0.0, FREQUENT_PVC: 300.0, BIGEMINY: 60.0, TRIGEMINY: 60.0, FREQUENT_APB: 300.0,
    BRADYCARDIA: 60.0, TACHYCARDIA: 60.0, PAUSE: 0.0, ASYSTOLE: 0.0, LEAD_OFF: 30.0, SIGNAL_LOST: 0.0,
    POOR_SIGNAL: 300.0,
}
ALERT_TYPES = tuple(DEFAULT_SEVERITY)
#: Types that are raised and later cleared (the others are one-off events).
CONDITIONS = frozenset(ALERT_TYPES) - {FREQUENT_PVC, FREQUENT_APB}


@dataclass(frozen=True)
class AlertConfig:
    """The alert policy (section ``[alerts]``); the defaults are the documented table."""

    # which model labels count as what (seed8 and aami5 label sets both covered)
    ventricular_labels: tuple[str, ...] = ("V",)
    atrial_labels: tuple[str, ...] = ("A", "S")
    flutter_labels: tuple[str, ...] = ("!",)
    # heart rate over the last rate_window_s (also how long brady/tachy must last)
    rate_window_s: float = 10.0
    bradycardia_bpm: float = 40.0
    tachycardia_bpm: float = 150.0
    rate_hysteresis_bpm: float = 5.0
    # no beat while the signal is present
    pause_s: float = 3.0
    asystole_s: float = 6.0
    # ventricular ectopy
    run_min_beats: int = 3
    run_fast_bpm: float = 100.0  # a run at least this fast is ventricular tachycardia (critical), else high
    pvc_window_s: float = 60.0
    pvc_count: int = 7  # more than 6 PVCs a minute
    bigeminy_cycles: int = 4  # (normal, PVC) pairs in a row
    trigeminy_cycles: int = 3  # (normal, normal, PVC) triples in a row
    apb_window_s: float = 60.0
    apb_count: int = 7  # more than 6 APBs a minute
    # flutter/fibrillation: beats labelled flutter that confirm one vf_like window without waiting
    vf_flutter_beats: int = 2
    vf_clear_windows: int = 8  # windows without flutter that end an episode (episodes fragment)
    # signal
    lead_off_s: float = 3.0  # debounce
    signal_lost_s: float = 10.0
    poor_signal_window_s: float = 30.0
    poor_signal_fraction: float = 0.6  # share of noisy rhythm windows that raises; half of it clears
    # per-type overrides of DEFAULT_SEVERITY / DEFAULT_COOLDOWN, and types switched off
    severity: Mapping[str, str] = field(default_factory=dict)
    cooldown_s: Mapping[str, float] = field(default_factory=dict)
    disabled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positive = ("rate_window_s", "bradycardia_bpm", "tachycardia_bpm", "pause_s", "asystole_s",
                    "pvc_window_s", "apb_window_s", "lead_off_s", "signal_lost_s", "poor_signal_window_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        for name in ("run_min_beats", "pvc_count", "bigeminy_cycles", "trigeminy_cycles", "apb_count",
                     "vf_flutter_beats", "vf_clear_windows"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name}: must be a whole number >= 1, got {getattr(self, name)!r}")
        if self.run_min_beats < 2:
            raise ValueError(f"run_min_beats: a run needs at least 2 beats, got {self.run_min_beats}")
        if self.bradycardia_bpm >= self.tachycardia_bpm:
            raise ValueError(f"bradycardia_bpm ({self.bradycardia_bpm}) must be below tachycardia_bpm "
                             f"({self.tachycardia_bpm})")
        if self.asystole_s < self.pause_s:
            raise ValueError(f"asystole_s ({self.asystole_s}) must not be shorter than pause_s ({self.pause_s})")
        if not 0 < self.poor_signal_fraction <= 1:
            raise ValueError(f"poor_signal_fraction: must be in (0, 1], got {self.poor_signal_fraction!r}")
        for table, check in (("severity", lambda v: v in SEVERITIES),
                             ("cooldown_s", lambda v: isinstance(v, (int, float)) and v >= 0)):
            for key, value in getattr(self, table).items():
                if key not in ALERT_TYPES:
                    raise ValueError(f"{table}.{key}: unknown alert type; known: {', '.join(ALERT_TYPES)}")
                if not check(value):
                    raise ValueError(f"{table}.{key}: invalid value {value!r}")
        for key in self.disabled:
            if key not in ALERT_TYPES:
                raise ValueError(f"disabled: unknown alert type {key!r}; known: {', '.join(ALERT_TYPES)}")

    def severity_of(self, kind: str) -> str:
        return self.severity.get(kind, DEFAULT_SEVERITY[kind])

    def cooldown_of(self, kind: str) -> float:
        return float(self.cooldown_s.get(kind, DEFAULT_COOLDOWN[kind]))


@dataclass(frozen=True)
class Finding:
    """An alert decided by the policy, in stream samples; the processor adds time, ids and the strip."""

    type: str
    state: str  # "raised" | "cleared"
    severity: str
    start: int  # absolute 360 Hz sample where the event began
    at: int  # absolute sample at which it was decided (the strip ends here)
    heart_rate: float | None
    beat_counts: dict[str, int]
    message: str


@dataclass
class _BeatRecord:
    peak: int
    label: str | None  # None: detected but not classifiable (at a segment edge)
    rr: int | None  # samples since the previous beat of the segment


class AlertPolicy:
    """The alert rules for one device.  Feed it in ``at`` order; it returns findings."""

    def __init__(self, config: AlertConfig | None = None, fs: int = MODEL_FS):
        self.config = c = config or AlertConfig()
        self.fs = fs
        self._s = lambda seconds: int(round(seconds * fs))
        self._beat_delay = WINDOW_AFTER
        self._history = max(c.pvc_window_s, c.apb_window_s, c.rate_window_s)
        self._beats: deque[_BeatRecord] = deque()
        self._ectopic: dict[str, deque[int]] = {"V": deque(), "A": deque()}  # recent peaks per category
        self._raised: dict[str, int] = {}  # active conditions -> start sample
        self._silent: set[str] = set()  # active conditions whose raise a cool-down swallowed
        self._last_raise: dict[str, int] = {}
        self._suppressed: Counter[str] = Counter()  # raises swallowed by a cool-down
        self._noisy: deque[tuple[int, bool]] = deque()
        self.lead_on = True
        self._lead_off_since: int | None = None
        self._lead_reason = ""
        self._signal_lost = False
        self._segment_start: int | None = None
        self._new_segment_state()

    def _new_segment_state(self) -> None:
        self._last_peak: int | None = None
        self._run: list[_BeatRecord] = []
        self._pattern: deque[str] = deque(maxlen=3 * self.config.trigeminy_cycles + 1)
        self._vf_run_start: int | None = None
        self._vf_quiet = 0
        self._vf_seen: int | None = None  # end of the last flutter-like window: beats before are unreliable

    # ------------------------------------------------------------ helpers
    def heart_rate(self, at: int | None = None) -> float | None:
        """Beats per minute over the last ``rate_window_s`` before ``at`` (the newest beat if None)."""
        if not self._beats:
            return None
        end = self._beats[-1].peak if at is None else at - self._beat_delay
        since = end - self._s(self.config.rate_window_s)
        rrs = [b.rr for b in self._beats if b.peak > since and b.peak <= end and b.rr]
        if not rrs:
            return None
        return 60.0 * self.fs * len(rrs) / sum(rrs)

    def _counts(self, since: int) -> dict[str, int]:
        return dict(Counter(b.label or "?" for b in self._beats if b.peak >= since))

    def _category(self, label: str | None) -> str:
        c = self.config
        if label is None:
            return "?"
        if label in c.ventricular_labels:
            return "V"
        if label in c.atrial_labels:
            return "A"
        return "n"

    def _raise(self, kind: str, start: int, at: int, message: str, counts: dict[str, int],
               severity: str | None = None) -> list[Finding]:
        c = self.config
        if kind in c.disabled or self._ongoing(kind):
            return []
        last = self._last_raise.get(kind)
        if last is not None and at - last < self._s(c.cooldown_of(kind)):
            self._suppressed[kind] += 1  # a condition's episode, or each time an event's rule is met
            if kind in CONDITIONS:
                self._silent.add(kind)
            return []
        if kind in CONDITIONS:
            self._raised[kind] = start
        self._last_raise[kind] = at
        if self._suppressed[kind]:
            what = "episodes" if kind in CONDITIONS else "times"
            message += f" (also {self._suppressed.pop(kind)} {what} within the cool-down before this alert)"
        return [Finding(kind, "raised", severity or c.severity_of(kind), start, at, self.heart_rate(at), counts,
                        message)]

    def _ongoing(self, kind: str) -> bool:
        """The condition holds now, whether or not its raise went out."""
        return kind in self._raised or kind in self._silent

    def _clear(self, kind: str, at: int, message: str) -> list[Finding]:
        self._silent.discard(kind)
        if kind not in self._raised:
            return []
        start = self._raised.pop(kind)
        return [Finding(kind, "cleared", "info", start, at, self.heart_rate(at),
                        self._counts(start), message)]

    def active(self) -> tuple[str, ...]:
        """The conditions raised and not yet cleared."""
        return tuple(self._raised)

    # ------------------------------------------------------------- inputs
    def segment_start(self, at: int) -> list[Finding]:
        """A new stretch of usable signal begins at absolute sample ``at``."""
        self._segment_start = at
        self._noisy.clear()
        self._new_segment_state()
        return []

    def segment_end(self, at: int, why: str) -> list[Finding]:
        """The usable signal ends at ``at`` (gap, lead off, device gone): episodes in progress end."""
        out = self.advance(at)
        for kind in (PAUSE, ASYSTOLE, RUN, VF, BIGEMINY, TRIGEMINY):
            out += self._clear(kind, at, f"{kind.replace('_', ' ')} no longer followed: {why}")
        self._segment_start = None
        self._new_segment_state()
        return out

    def beat(self, at: int, peak: int, label: str | None, rr: int | None) -> list[Finding]:
        """A detected beat (``label`` None if it could not be classified); ``at`` = when it was known."""
        c = self.config
        out = self.advance(at)
        record = _BeatRecord(peak, label, rr)
        self._beats.append(record)
        while self._beats and self._beats[0].peak < peak - self._s(self._history):
            self._beats.popleft()
        if self._last_peak is not None:
            gap_s = (peak - self._last_peak) / self.fs
            for kind in (ASYSTOLE, PAUSE):
                out += self._clear(kind, at, f"beats resumed after {gap_s:.1f} s without a beat")
        self._last_peak = peak
        out += self._ventricular(at, record)
        category = self._category(label)
        if category in self._ectopic:
            self._ectopic[category].append(peak)
            out += (self._frequency(at, peak, "V", FREQUENT_PVC, c.pvc_window_s, c.pvc_count, "PVCs")
                    if category == "V" else
                    self._frequency(at, peak, "A", FREQUENT_APB, c.apb_window_s, c.apb_count,
                                    "atrial premature beats"))
        out += self._rate(at)
        return out

    def rhythm(self, at: int, window: RhythmWindow, window_samples: int) -> list[Finding]:
        """One flutter/fibrillation analysis window ending at absolute sample ``at``."""
        c = self.config
        out = self.advance(at)
        self._noisy.append((at, window.noisy))
        while self._noisy and self._noisy[0][0] <= at - self._s(c.poor_signal_window_s):
            self._noisy.popleft()
        start = at - window_samples
        flutter_beats = sum(1 for b in self._beats if start <= b.peak < at and b.label in c.flutter_labels)
        if window.vf_like:
            self._vf_seen = at
            if self._vf_run_start is None:
                self._vf_run_start = start
            self._vf_quiet = 0
        else:
            self._vf_quiet += 1
        if window.vf or (window.vf_like and flutter_beats >= c.vf_flutter_beats):
            why = "sine-like ventricular waves" + (f", {flutter_beats} beats labelled flutter" if flutter_beats else "")
            out += self._raise(VF, self._vf_run_start if self._vf_run_start is not None else start, at,
                               f"Ventricular flutter/fibrillation ({why}).", self._counts(start))
        elif self._vf_quiet >= c.vf_clear_windows:
            out += self._clear(VF, at, "Ventricular flutter/fibrillation ended.")
        if not window.vf_like:
            self._vf_run_start = None
        out += self._quality(at)
        return out

    def lead(self, at: int, on: bool, reason: str) -> list[Finding]:
        """The lead state changed at ``at`` (``reason``: flag / saturated / flat / ok)."""
        out = self.advance(at)
        if on and not self.lead_on:
            self._lead_off_since = None
            out += self._clear(LEAD_OFF, at, "Lead back on; monitoring resumed.")
        elif not on and self.lead_on:
            self._lead_off_since = at
            self._lead_reason = reason
        self.lead_on = on
        return out

    def signal_lost(self, at: int, seconds: float) -> list[Finding]:
        """No frame for ``seconds`` (from the adapter's clock); ``at`` = the last sample received."""
        self._signal_lost = True
        return self._raise(SIGNAL_LOST, at, at, f"No data from the device for {seconds:.0f} s.", self._counts(at))

    def signal_back(self, at: int) -> list[Finding]:
        """Data arrives again after a signal loss."""
        if not self._signal_lost:
            return []
        self._signal_lost = False
        return self._clear(SIGNAL_LOST, at, "Data from the device again.")

    def advance(self, at: int) -> list[Finding]:
        """The processor has seen everything up to ``at``: raise what has timed out by then."""
        c = self.config
        out: list[Finding] = []
        if self._lead_off_since is not None and not self.lead_on:
            due = self._lead_off_since + self._s(c.lead_off_s)
            if at >= due:
                self._lead_off_since = None
                reason = {"flag": "the device reports an electrode off",
                          "saturated": "the signal is pinned at the ADC limit",
                          "flat": "the signal is flat; asystole cannot be excluded"}.get(self._lead_reason,
                                                                                        self._lead_reason)
                out += self._raise(LEAD_OFF, due - self._s(c.lead_off_s), due,
                                   f"Lead off: {reason}. Check the electrodes.", {})
        return out + self._pauses(at)

    def _pauses(self, at: int) -> list[Finding]:
        """No beat for ``pause_s`` / ``asystole_s`` while the signal is present (and is not flutter)?

        A pause is due at the sample where the beats known (``at - 256``) have
        shown a beat-free stretch of ``pause_s``; it is raised at the first
        call *after* that sample, so the state it sees is every input up to
        the due sample, whatever the framing, and it is stamped with that sample.
        """
        c = self.config
        ref = self._last_peak if self._last_peak is not None else self._segment_start
        if ref is not None and self._vf_seen is not None:
            ref = max(ref, self._vf_seen)  # flutter waves are not beats, but not a pause either
        if ref is None or not self.lead_on or VF in self._raised or self._vf_run_start is not None:
            return []
        out: list[Finding] = []
        for kind, seconds in ((PAUSE, c.pause_s), (ASYSTOLE, c.asystole_s)):
            due = ref + self._s(seconds) + self._beat_delay
            if at > due and kind not in self._raised:
                quality = " (signal quality poor: may be artefact)" if POOR_SIGNAL in self._raised else ""
                out += self._raise(kind, ref, due, f"No beat for {seconds:g} s{quality}.", self._counts(ref))
        return out


    # -------------------------------------------------------------- rules
    def _ventricular(self, at: int, beat: _BeatRecord) -> list[Finding]:
        c = self.config
        out: list[Finding] = []
        cat = self._category(beat.label)
        if cat == "V":
            self._run.append(beat)
            if len(self._run) == c.run_min_beats:
                rrs = [b.rr for b in self._run[1:] if b.rr]
                rate = 60.0 * self.fs * len(rrs) / sum(rrs) if rrs else 0.0
                severity = c.severity_of(RUN) if rate >= c.run_fast_bpm else "high"
                kind_text = "ventricular tachycardia" if rate >= c.run_fast_bpm else "slow ventricular rhythm"
                out += self._raise(RUN, self._run[0].peak, at,
                                   f"Run of {len(self._run)} consecutive ventricular beats at {rate:.0f}/min "
                                   f"({kind_text}).", self._counts(self._run[0].peak), severity)
        else:
            if len(self._run) >= c.run_min_beats:
                out += self._clear(RUN, at, f"Ventricular run ended after {len(self._run)} beats.")
            self._run = []
        self._pattern.append(cat)
        out += self._patterns(at)
        return out

    def _patterns(self, at: int) -> list[Finding]:
        c = self.config
        out: list[Finding] = []
        seq = "".join(self._pattern)
        for kind, unit, cycles in ((BIGEMINY, "nV", c.bigeminy_cycles), (TRIGEMINY, "nnV", c.trigeminy_cycles)):
            need = len(unit) * cycles
            tail = seq[-need:]
            holds = len(tail) == need and any(tail == (unit[k:] + unit[:k]) * cycles for k in range(len(unit)))
            if holds and not self._ongoing(kind):
                first = self._beats[-need].peak
                name = "Ventricular bigeminy" if kind == BIGEMINY else "Ventricular trigeminy"
                out += self._raise(kind, first, at, f"{name}: {cycles} cycles in a row.", self._counts(first))
            elif not holds and self._ongoing(kind) and not self._still_patterned(seq, unit):
                out += self._clear(kind, at, f"{kind.capitalize()} ended.")
        return out

    @staticmethod
    def _still_patterned(seq: str, unit: str) -> bool:
        """The last ``len(unit) + 1`` beats still follow the pattern (tolerates where a cycle starts)."""
        tail = seq[-(len(unit) + 1):]
        return any(tail == ((unit[k:] + unit[:k]) * 2)[: len(tail)] for k in range(len(unit)))

    def _frequency(self, at: int, peak: int, category: str, kind: str, window_s: float, count: int,
                   what: str) -> list[Finding]:
        """``peak`` is of ``category``: raise ``kind`` if at least ``count`` such beats lie within ``window_s``."""
        since = peak - self._s(window_s)
        hits = self._ectopic[category]
        while hits and hits[0] <= since:
            hits.popleft()
        if len(hits) < count:
            return []
        return self._raise(kind, hits[0], at, f"{len(hits)} {what} in the last {window_s:.0f} s.",
                           self._counts(since))

    def _rate(self, at: int) -> list[Finding]:
        c = self.config
        out: list[Finding] = []
        if self._segment_start is None or at - self._beat_delay - self._segment_start < self._s(c.rate_window_s):
            return out  # the window does not lie inside this segment yet
        since = at - self._beat_delay - self._s(c.rate_window_s)
        hr = self.heart_rate(at)
        if hr is None or (self._vf_seen is not None and since < self._vf_seen):
            return out  # R peaks are not beats in flutter/fibrillation: no rate from them
        paused = any(b.rr and b.rr > self._s(c.pause_s) for b in self._beats if b.peak > since)
        if hr < c.bradycardia_bpm and not paused:  # a pause is its own alert, not a slow rate
            out += self._raise(BRADYCARDIA, since, at, f"Bradycardia: {hr:.0f}/min over {c.rate_window_s:.0f} s.",
                               self._counts(since))
        elif hr >= c.bradycardia_bpm + c.rate_hysteresis_bpm:
            out += self._clear(BRADYCARDIA, at, f"Heart rate back to {hr:.0f}/min.")
        if hr > c.tachycardia_bpm:
            out += self._raise(TACHYCARDIA, since, at, f"Tachycardia: {hr:.0f}/min over {c.rate_window_s:.0f} s.",
                               self._counts(since))
        elif hr <= c.tachycardia_bpm - c.rate_hysteresis_bpm:
            out += self._clear(TACHYCARDIA, at, f"Heart rate back to {hr:.0f}/min.")
        return out

    def _quality(self, at: int) -> list[Finding]:
        c = self.config
        seen = at - self._segment_start if self._segment_start is not None else 0
        if seen < self._s(c.poor_signal_window_s) or not self._noisy or VF in self._raised:
            return []  # judge only a whole window of verdicts
        share = sum(n for _, n in self._noisy) / len(self._noisy)
        if share >= c.poor_signal_fraction:
            return self._raise(POOR_SIGNAL, self._noisy[0][0], at,
                               f"Poor signal quality: {share:.0%} of the last {c.poor_signal_window_s:.0f} s "
                               "look like noise. Check the electrodes and ask the patient to keep still.",
                               self._counts(self._noisy[0][0]))
        if share <= c.poor_signal_fraction / 2:
            return self._clear(POOR_SIGNAL, at, "Signal quality good again.")
        return []
