"""What has been raised: findings, episodes, the arbitration between rules, and the hourly bound.

Every rule raises and clears through one :class:`Ledger`, so the alarm
system's bookkeeping is written once (IEC 60601-1-8 is the model):

* *events* (frequent PVCs, frequent APBs) are raised once; the cool-down
  keeps a persisting condition from repeating them more often than that.
* *conditions* (everything else) are **episodes**: raised when they start and
  ``cleared`` when they end, so a caregiver knows it is over.  A condition
  (other than lead off and signal lost, which clear at once) that returns
  within ``episode_merge_s`` of ending continues the same
  episode (its clear is held that long), and the clear, when it comes, says
  how many bouts the episode had and how long it lasted: a recurrent
  flutter is one alarm, not one per burst.
* **Priorities**: while an episode of a type in :data:`SUPPRESSES` is open,
  raises of the types it suppresses are held (counted in its clear), and
  their open episodes end when it is raised.
* **Rate bound**: at most ``max_alerts_per_hour`` raises per patient an hour,
  enforced over every ``alert_bound_window_s`` (at most
  ``max_alerts_per_hour * alert_bound_window_s / 3600`` raises in any such
  window, so the bound also holds over a short stay, not only once an hour
  has filled); beyond it, non-critical raises are held (and counted in the
  next alert that goes out and in the status).  A held condition (AF, a
  run, bigeminy, ...) that still holds is raised late once the bound allows,
  saying how late, so a long condition is never silent for its whole
  episode; held events (PVC and APB counts) are only counted.  Critical
  raises count towards it but are never held or delayed.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import chain, whole
from .history import BeatLog
from .types import CONDITIONS, EPISODIC, SUPPRESSES

if TYPE_CHECKING:
    from .config import AlertConfig


@dataclass(frozen=True)
class ArbitrationSettings:
    episode_merge_s: float = 60.0  # a condition back within this after ending continues its episode
    max_alerts_per_hour: int = 30  # raises per patient per hour before non-critical ones are held
    alert_bound_window_s: float = 1200.0  # the bound is enforced pro rata over every window this long

    def __post_init__(self) -> None:
        if not self.episode_merge_s >= 0:
            raise ValueError(f"episode_merge_s: must be >= 0, got {self.episode_merge_s!r}")
        if not 0 < self.alert_bound_window_s <= 3600:
            raise ValueError(f"alert_bound_window_s: must be > 0 and <= 3600, got {self.alert_bound_window_s!r}")
        whole(self, "max_alerts_per_hour")
        chain(self, ArbitrationSettings)


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
    end: int | None = None  # a clear: where the episode ended (a held clear is decided later, at ``at``)


@dataclass
class Episode:
    """An open condition."""

    start: int
    bouts: int = 1
    ending: int | None = None  # where its last bout ended; the clear waits episode_merge_s for a return
    end_message: str = ""
    held: int = 0  # raises of the types it suppresses, held while it lasted


class Ledger:
    """Raises and clears findings for one device: cool-downs, episodes, priorities, the hourly bound."""

    def __init__(self, config: AlertConfig, beats: BeatLog):
        self.config = config
        self.beats = beats
        self._open: dict[str, Episode] = {}
        self._silent: set[str] = set()  # holding conditions whose raise was held (cool-down, bound, priority)
        self._last_raise: dict[str, int] = {}
        self._suppressed: Counter[str] = Counter()  # raises swallowed by a cool-down
        self._raises: deque[int] = deque()  # samples of the raises within the last bound window
        self.held_by_bound = 0  # raises held by the hourly bound since the last one that went out
        #: conditions the bound held, raised late once it allows if they still hold: kind -> the raise's arguments
        self._deferred: dict[str, tuple[int, str, dict[str, int], str]] = {}
        self._merge = beats.samples(config.episode_merge_s)
        self._bound_window = beats.samples(config.alert_bound_window_s)
        #: raises allowed in any bound window (at least one)
        self.bound = max(1, int(config.max_alerts_per_hour * config.alert_bound_window_s / 3600.0))

    # ------------------------------------------------------------ raising
    def alert(self, kind: str, start: int, at: int, message: str, counts: dict[str, int],
              severity: str | None = None) -> list[Finding]:
        """Raise ``kind`` unless disabled, already holding, returning within its episode, or held."""
        c = self.config
        if kind in c.disabled:
            return []
        episode = self._open.get(kind)
        if episode is not None:
            if episode.ending is not None:  # back within episode_merge_s: the same episode
                episode.ending = None
                episode.bouts += 1
            return []
        if kind in self._silent:
            return []
        superior = self._suppressor(kind)
        if superior is not None:
            self._open[superior].held += 1
            self._hold(kind)
            return []
        last = self._last_raise.get(kind)
        if last is not None and at - last < self.beats.samples(c.cooldown_of(kind)):
            self._suppressed[kind] += 1  # a condition's episode, or each time an event's rule is met
            self._hold(kind)
            return []
        severity = severity or c.severity_of(kind)
        while self._raises and self._raises[0] <= at - self._bound_window:
            self._raises.popleft()
        if severity != "critical" and len(self._raises) >= self.bound:
            self.held_by_bound += 1
            self._hold(kind)
            if kind in CONDITIONS:
                self._deferred[kind] = (start, message, counts, severity)
            return []
        self._raises.append(at)
        self._last_raise[kind] = at
        if self._suppressed[kind]:
            what = "episodes" if kind in CONDITIONS else "times"
            message += f" (also {self._suppressed.pop(kind)} {what} within the cool-down before this alert)"
        if self.held_by_bound:
            message += (f" ({self.held_by_bound} other alerts held back before this one: more than "
                        f"{self.bound} in {c.alert_bound_window_s / 60:g} min)")
            self.held_by_bound = 0
        out = [Finding(kind, "raised", severity, start, at, self.beats.heart_rate(at), counts, message)]
        if kind in CONDITIONS:
            self._open[kind] = Episode(start)
        name = kind.replace("_", " ")
        for lower in SUPPRESSES.get(kind, ()):
            if lower in self._open:
                out += self._close(lower, at, f"{lower.replace('_', ' ').capitalize()} superseded by {name}.", at)
        return out

    def _hold(self, kind: str) -> None:
        if kind in CONDITIONS:
            self._silent.add(kind)

    def _suppressor(self, kind: str) -> str | None:
        return next((k for k, lower in SUPPRESSES.items() if kind in lower and k in self._open), None)

    # ------------------------------------------------------------ clearing
    def clear(self, kind: str, at: int, message: str, now: bool = False) -> list[Finding]:
        """Condition ``kind`` ended at ``at``: its clear goes out after ``episode_merge_s`` (``now``: at once)."""
        self._silent.discard(kind)
        self._deferred.pop(kind, None)
        episode = self._open.get(kind)
        if episode is None:
            return []
        if episode.ending is not None:
            return self._close(kind, at, episode.end_message, episode.ending) if now else []
        if now or not self._merge or kind not in EPISODIC:
            return self._close(kind, at, message, at)
        episode.ending, episode.end_message = at, message
        return []

    def advance(self, at: int) -> list[Finding]:
        """Clear the episodes that have not returned within ``episode_merge_s`` by ``at``; raise the conditions
        the bound held that still hold, once it allows (late, and saying so), so a long condition is never lost."""
        out: list[Finding] = []
        for kind, (start, message, counts, severity) in list(self._deferred.items()):
            while self._raises and self._raises[0] <= at - self._bound_window:
                self._raises.popleft()
            if len(self._raises) < self.bound:
                del self._deferred[kind]
                self._silent.discard(kind)
                self.held_by_bound = max(0, self.held_by_bound - 1)  # it goes out now: not one of the others
                late = f" (raised {(at - start) / self.beats.fs:.0f} s after it began: held by the alert bound)"
                out += self.alert(kind, start, at, message + late, counts, severity)
        for kind, episode in list(self._open.items()):
            if episode.ending is not None and at >= episode.ending + self._merge:
                waited = f" (no return within {self.config.episode_merge_s:g} s)"
                out += self._close(kind, episode.ending + self._merge, episode.end_message + waited, episode.ending)
        return out

    def _close(self, kind: str, at: int, message: str, end: int) -> list[Finding]:
        episode = self._open.pop(kind)
        if episode.bouts > 1:
            message += f" One episode of {episode.bouts} bouts over {(end - episode.start) / self.beats.fs:.0f} s."
        if episode.held:
            message += f" {episode.held} other alerts were held while it lasted."
        return [Finding(kind, "cleared", "info", episode.start, at, self.beats.heart_rate(at),
                        self.beats.counts(episode.start), message, end)]

    # ------------------------------------------------------------ state
    def ongoing(self, kind: str) -> bool:
        """The condition holds now (raised and not ending, or held), whether or not its raise went out."""
        episode = self._open.get(kind)
        return (episode is not None and episode.ending is None) or kind in self._silent

    def raised(self, kind: str) -> bool:
        """An episode of the condition is open (its clear has not gone out)."""
        return kind in self._open

    def active(self) -> tuple[str, ...]:
        """The conditions raised and not yet cleared."""
        return tuple(self._open)

    def episodes(self) -> dict[str, dict]:
        """The open episodes, for the status: where each began and how many bouts it has had."""
        return {kind: {"start": e.start, "bouts": e.bouts, "ending": e.ending is not None}
                for kind, e in self._open.items()}
