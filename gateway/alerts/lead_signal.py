"""The signal itself: electrodes off, data from the device lost, and poor signal quality.

*Lead off* is debounced by ``lead_off_s`` (a loose electrode flickers) and
stamped with the sample it became due, whatever the framing.  *Signal lost*
comes from the adapter's clock (no frame for ``signal_lost_s``).  *Poor
signal* is the share of noisy rhythm windows over ``poor_signal_window_s``:
raised at ``poor_signal_fraction``, cleared at half of it.  Independently of
that alert, a beat inside an unreadable window (or within a second after
one) is *unreliable*: its label is not used by the beat-label rules (runs,
PVC and APB counts, patterns), since muscle and motion artefact are what the
classifier most often mistakes for ventricular beats (and a beat in a noisy
window gives the AF detector no RR interval).  A window is
unreadable when it is noisy (kurtosis) or when its QRS complexes stand too
little above the noise between them (:mod:`gateway.signal.sqi`); only the
noisy verdict counts towards *poor signal*, so moderate noise holds labels
without raising an alert of its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .checks import chain, positive
from .history import BeatLog
from .ledger import Finding, Ledger
from .types import LEAD_OFF, POOR_SIGNAL, SIGNAL_LOST, VF

_LEAD_REASONS = {"flag": "the device reports an electrode off",
                 "saturated": "the signal is pinned at the ADC limit",
                 "flat": "the signal is flat; asystole cannot be excluded"}


@dataclass(frozen=True)
class SignalSettings:
    lead_off_s: float = 3.0  # debounce
    signal_lost_s: float = 10.0
    poor_signal_window_s: float = 30.0
    poor_signal_fraction: float = 0.6  # share of noisy rhythm windows that raises; half of it clears

    def __post_init__(self) -> None:
        positive(self, "lead_off_s", "signal_lost_s", "poor_signal_window_s")
        if not 0 < self.poor_signal_fraction <= 1:
            raise ValueError(f"poor_signal_fraction: must be in (0, 1], got {self.poor_signal_fraction!r}")
        chain(self, SignalSettings)


class LeadRule:
    """Lead off (debounced) and signal lost."""

    def __init__(self, config: SignalSettings, ledger: Ledger, beats: BeatLog):
        self.config, self.ledger, self.beats = config, ledger, beats
        self.on = True
        self._off_since: int | None = None
        self._reason = ""
        self._lost = False

    def lead(self, at: int, on: bool, reason: str) -> list[Finding]:
        out: list[Finding] = []
        if on and not self.on:
            self._off_since = None
            out = self.ledger.clear(LEAD_OFF, at, "Lead back on; monitoring resumed.")
        elif not on and self.on:
            self._off_since = at
            self._reason = reason
        self.on = on
        return out

    def advance(self, at: int) -> list[Finding]:
        """Raise lead off once it has lasted ``lead_off_s`` by ``at``."""
        if self._off_since is None or self.on:
            return []
        debounce = self.beats.samples(self.config.lead_off_s)
        due = self._off_since + debounce
        if at < due:
            return []
        self._off_since = None
        reason = _LEAD_REASONS.get(self._reason, self._reason)
        return self.ledger.alert(LEAD_OFF, due - debounce, due, f"Lead off: {reason}. Check the electrodes.", {})

    def lost(self, at: int, seconds: float) -> list[Finding]:
        self._lost = True
        return self.ledger.alert(SIGNAL_LOST, at, at, f"No data from the device for {seconds:.0f} s.",
                                 self.beats.counts(at))

    def back(self, at: int) -> list[Finding]:
        if not self._lost:
            return []
        self._lost = False
        return self.ledger.clear(SIGNAL_LOST, at, "Data from the device again.")


class QualityRule:
    """Poor signal: too many rhythm windows look like noise."""

    def __init__(self, config: SignalSettings, ledger: Ledger, beats: BeatLog):
        self.config, self.ledger, self.beats = config, ledger, beats
        #: (end, noisy, unreadable) of the windows of the last span
        self._windows: deque[tuple[int, bool, bool]] = deque()
        self._window = 0  # samples in one rhythm window

    def reset(self) -> None:
        self._windows.clear()

    def unreliable(self, peak: int, labels: bool = True) -> bool:
        """A window held ``peak`` or ended less than a second before it that was unreadable (``labels``) or noisy.

        Beat labels are held on the wider test; RR intervals (the AF
        detector's input) only in noisy windows, as before the QRS-to-noise
        test existed, since that test was chosen for labels and not measured
        against AF detection.
        """
        after = self.beats.samples(1.0)
        return any(end - self._window <= peak < end + after
                   for end, noisy, unreadable in self._windows if (unreadable if labels else noisy))

    def clean_share(self) -> float | None:
        if not self._windows:
            return None
        return 1.0 - self._noisy_share()

    def _noisy_share(self) -> float:
        return sum(noisy for _, noisy, _ in self._windows) / len(self._windows)

    def window(self, at: int, noisy: bool, window_samples: int, unreadable: bool | None = None) -> list[Finding]:
        """One rhythm window ending at ``at``; ``unreadable`` (holds beat labels) defaults to ``noisy``."""
        c = self.config
        span = self.beats.samples(c.poor_signal_window_s)
        self._window = window_samples
        self._windows.append((at, noisy, noisy or bool(unreadable)))
        while self._windows and self._windows[0][0] <= at - span:
            self._windows.popleft()
        start = self.beats.segment_start
        seen = at - start if start is not None else 0
        if seen < span or not self._windows or self.ledger.raised(VF):
            return []  # judge only a whole window of verdicts
        share = self._noisy_share()
        if share >= c.poor_signal_fraction:
            return self.ledger.alert(POOR_SIGNAL, self._windows[0][0], at,
                                     f"Poor signal quality: {share:.0%} of the last {c.poor_signal_window_s:.0f} s "
                                     "look like noise. Check the electrodes and ask the patient to keep still. "
                                     "Ventricular-run, PVC, APB and pattern alerts are held while beats "
                                     "are unreadable.",
                                     self.beats.counts(self._windows[0][0]))
        if share <= c.poor_signal_fraction / 2:
            return self.ledger.clear(POOR_SIGNAL, at, "Signal quality good again.")
        return []
