"""Is the electrode on and is the signal usable?  Raw-count checks before the chain.

The AD8232 drives its output to a rail when an electrode comes off, and a
disconnected input reads as a flat line; both give R-peak detectors and
rhythm analysis garbage, so the processor judges the raw ADC counts in
fixed blocks of ``block_s`` seconds (counted from the segment's first
sample, so the verdicts do not depend on how frames cut the stream) and
feeds only "on" blocks into the filter chain:

* ``flag``      — the device said so (its LO+/LO- comparators);
* ``saturated`` — at least ``rail_fraction`` of the block sits at 0 or
  ``2**bits - 1``;
* ``flat``      — the peak-to-peak over the last ``flat_s`` seconds is below
  ``flat_mv``.  A flat line is ambiguous: a disconnected input, or asystole
  on a connected lead.  When the device reports lead-off and says the lead
  is on, the flag is believed and a flat line is signal (so the
  pause/asystole alarm fires); without lead-off reporting a flat line is
  taken as lead-off, and the ``lead_off`` alert says that asystole cannot
  be excluded, at high severity.

The window-level quality of the filtered signal (noise) is
:func:`noisy_window`, used by the rhythm analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LeadConfig:
    """Thresholds of the raw-count lead checks (section ``[processor]`` of the config)."""

    block_s: float = 0.25  # judging granularity; adds at most this much delay
    rail_fraction: float = 0.2  # share of a block at a rail that means "saturated"
    flat_s: float = 1.0  # span over which a flat line is judged
    flat_mv: float = 0.01  # peak-to-peak below this over flat_s is "flat" (10 uV)

    def __post_init__(self) -> None:
        for name in ("block_s", "flat_s", "flat_mv"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.rail_fraction <= 1:
            raise ValueError(f"rail_fraction: must be in (0, 1], got {self.rail_fraction!r}")


@dataclass(frozen=True)
class BlockVerdict:
    """The lead state of one raw block, and why."""

    on: bool
    reason: str  # "ok", "flag", "saturated" or "flat"


class LeadChecker:
    """Judges consecutive raw blocks of one segment; ``reset`` at a gap."""

    def __init__(self, config: LeadConfig, fs: int, adc_bits: int, mv_per_count: float, flag_authoritative: bool):
        self.config = config
        self.block = max(1, int(round(config.block_s * fs)))
        self._flat_blocks = max(1, int(round(config.flat_s / config.block_s)))
        self._rail_hi = 2 ** adc_bits - 1
        self._flat_counts = config.flat_mv / mv_per_count
        self._flag_authoritative = flag_authoritative
        self.reset()

    def reset(self) -> None:
        """Forget the history (a new segment starts)."""
        self._ranges: list[tuple[float, float]] = []  # (min, max) of the last blocks

    def judge(self, block: np.ndarray, flagged: bool) -> BlockVerdict:
        """Verdict for one block of raw counts (``flagged``: the device reported lead-off in it)."""
        self._ranges = (self._ranges + [(float(block.min()), float(block.max()))])[-self._flat_blocks:]
        if flagged:
            return BlockVerdict(False, "flag")
        at_rail = np.count_nonzero((block <= 0) | (block >= self._rail_hi))
        if at_rail >= self.config.rail_fraction * block.size:
            return BlockVerdict(False, "saturated")
        if not self._flag_authoritative and len(self._ranges) == self._flat_blocks:
            lo = min(r[0] for r in self._ranges)
            hi = max(r[1] for r in self._ranges)
            if hi - lo < self._flat_counts:
                return BlockVerdict(False, "flat")
        return BlockVerdict(True, "ok")


#: Kurtosis below which a window is noise rather than ECG (Li, Clifford &
#: Mark 2008 use 5 for their kSQI; QRS spikes make clean ECG strongly
#: leptokurtic, muscle noise and motion artefact are near-Gaussian (3)).
NOISE_KURTOSIS = 5.0


def noisy_window(w: np.ndarray, kurtosis_limit: float = NOISE_KURTOSIS) -> bool:
    """True when the filtered window looks like noise (low kurtosis), not like ECG."""
    centred = w - w.mean()
    var = float(np.mean(centred ** 2))
    if var <= 0:
        return False  # flat: a lead matter, not noise
    kurt = float(np.mean(centred ** 4)) / var ** 2
    return kurt < kurtosis_limit
