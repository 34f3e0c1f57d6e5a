"""What has been raised: findings, the cool-downs that hold back repeats, and the conditions still active.

Every rule raises and clears through one :class:`Ledger`, so the bookkeeping
(cool-downs, the count of raises they swallowed, which conditions hold now)
is written once.  Two kinds of alert:

* *events* (frequent PVCs, frequent APBs) are raised once; the cool-down
  keeps a persisting condition from repeating them more often than that.
* *conditions* (everything else) are raised when they start and
  ``cleared`` when they end, so a caregiver knows the episode is over; a
  condition that ends and restarts within its cool-down is not re-raised.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .history import BeatLog
from .types import CONDITIONS

if TYPE_CHECKING:
    from .config import AlertConfig


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


class Ledger:
    """Raises and clears findings for one device, applying cool-downs and the disabled list."""

    def __init__(self, config: AlertConfig, beats: BeatLog):
        self.config = config
        self.beats = beats
        self._raised: dict[str, int] = {}  # active conditions -> start sample
        self._silent: set[str] = set()  # active conditions whose raise a cool-down swallowed
        self._last_raise: dict[str, int] = {}
        self._suppressed: Counter[str] = Counter()  # raises swallowed by a cool-down

    def alert(self, kind: str, start: int, at: int, message: str, counts: dict[str, int],
              severity: str | None = None) -> list[Finding]:
        """Raise ``kind`` (unless disabled, already holding, or within its cool-down)."""
        c = self.config
        if kind in c.disabled or self.ongoing(kind):
            return []
        last = self._last_raise.get(kind)
        if last is not None and at - last < self.beats.samples(c.cooldown_of(kind)):
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
        return [Finding(kind, "raised", severity or c.severity_of(kind), start, at, self.beats.heart_rate(at),
                        counts, message)]

    def clear(self, kind: str, at: int, message: str) -> list[Finding]:
        """End condition ``kind``; a finding only if its raise went out."""
        self._silent.discard(kind)
        if kind not in self._raised:
            return []
        start = self._raised.pop(kind)
        return [Finding(kind, "cleared", "info", start, at, self.beats.heart_rate(at),
                        self.beats.counts(start), message)]

    def ongoing(self, kind: str) -> bool:
        """The condition holds now, whether or not its raise went out."""
        return kind in self._raised or kind in self._silent

    def raised(self, kind: str) -> bool:
        """The condition was raised and not yet cleared."""
        return kind in self._raised

    def active(self) -> tuple[str, ...]:
        """The conditions raised and not yet cleared."""
        return tuple(self._raised)
