"""Ventricular bigeminy and trigeminy: (normal, PVC) or (normal, normal, PVC) repeated.

Raised after ``bigeminy_cycles`` / ``trigeminy_cycles`` whole cycles in a
row, wherever in the cycle the sequence started; cleared once the last
cycle and one beat no longer follow the pattern (so a cycle boundary does
not end it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .checks import chain, whole
from .history import BeatLog
from .ledger import Finding, Ledger
from .types import BIGEMINY, TRIGEMINY


@dataclass(frozen=True)
class PatternSettings:
    bigeminy_cycles: int = 4  # (normal, PVC) pairs in a row
    trigeminy_cycles: int = 3  # (normal, normal, PVC) triples in a row

    def __post_init__(self) -> None:
        whole(self, "bigeminy_cycles", "trigeminy_cycles")
        chain(self, PatternSettings)


class Patterns:
    def __init__(self, config: PatternSettings, ledger: Ledger, beats: BeatLog):
        self.config, self.ledger, self.beats = config, ledger, beats
        self.reset()

    def reset(self) -> None:
        """A new segment: a pattern never spans a gap."""
        c = self.config
        longest = max(2 * c.bigeminy_cycles, 3 * c.trigeminy_cycles)
        self._pattern: deque[tuple[str, int]] = deque(maxlen=longest + 1)  # (category, peak) of recent beats

    def beat(self, at: int, peak: int, category: str) -> list[Finding]:
        c = self.config
        self._pattern.append((category, peak))
        out: list[Finding] = []
        seq = "".join(cat for cat, _ in self._pattern)
        for kind, unit, cycles in ((BIGEMINY, "nV", c.bigeminy_cycles), (TRIGEMINY, "nnV", c.trigeminy_cycles)):
            need = len(unit) * cycles
            tail = seq[-need:]
            holds = len(tail) == need and any(tail == (unit[k:] + unit[:k]) * cycles for k in range(len(unit)))
            if holds and not self.ledger.ongoing(kind):
                first = self._pattern[-need][1]  # the pattern's own beats: the log keeps only a time window
                name = "Ventricular bigeminy" if kind == BIGEMINY else "Ventricular trigeminy"
                out += self.ledger.alert(kind, first, at, f"{name}: {cycles} cycles in a row.",
                                         self.beats.counts(first))
            elif not holds and self.ledger.ongoing(kind) and not _still_patterned(seq, unit):
                out += self.ledger.clear(kind, at, f"{kind.capitalize()} ended.")
        return out


def _still_patterned(seq: str, unit: str) -> bool:
    """The last ``len(unit) + 1`` beats still follow the pattern (tolerates where a cycle starts)."""
    tail = seq[-(len(unit) + 1):]
    return any(tail == ((unit[k:] + unit[:k]) * 2)[: len(tail)] for k in range(len(unit)))
