"""Reference annotations: beat labels and noisy stretches per lead (matching detections to them:
:mod:`gateway.signal.matching`).

Noise (``~``) annotations in MIT-BIH mark a change of signal quality, and
their ``subtype`` says which signals are noisy from there on: "each
non-zero bit in the subtyp field indicates that the corresponding signal
contains noise (the least significant bit corresponds to signal 0)"
(WFDB Programmer's Guide, Annotation Codes, note 2).  A subtype of ``-1``
(all bits set) marks a stretch where every signal is unreadable (shown as
``U`` by WFDB tools).  The stretch lasts until the next ``~``; subtype 0
means clean again.  So whether a beat is "in noise" depends on the lead the
model looks at: record 105 has stretches where only V1 (bit 1) is noisy and
MLII is clean, and those beats must be kept when MLII is the chosen lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .labels import REFERENCE_BEAT_SYMBOLS



@dataclass(frozen=True)
class Reference:
    """A record's reference beats and signal-quality changes, in samples of the record."""

    beat_samples: np.ndarray  # int64, sorted
    beat_symbols: np.ndarray  # str, MIT symbols
    noise_samples: np.ndarray  # int64, where a ``~`` annotation sets a new quality state
    noise_subtypes: np.ndarray  # int64, bit k set = signal k noisy; -1 = all unreadable


def read_reference(path: str | Path, annotator: str = "atr") -> Reference:
    """Beat and noise annotations of WFDB record ``path`` (without extension)."""
    import wfdb

    ann = wfdb.rdann(str(path), annotator)
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)
    subtypes = np.asarray(ann.subtype, dtype=np.int64)
    is_beat = np.isin(symbols, sorted(REFERENCE_BEAT_SYMBOLS))
    is_noise = symbols == "~"
    order = np.argsort(samples[is_beat], kind="stable")
    return Reference(samples[is_beat][order], symbols[is_beat][order],
                     samples[is_noise], subtypes[is_noise])


def noisy_mask(samples: np.ndarray, noise_samples: np.ndarray, noise_subtypes: np.ndarray,
               signal_index: int) -> np.ndarray:
    """True where ``samples`` fall in a stretch the annotations mark noisy for signal ``signal_index``.

    The quality state at sample ``s`` is set by the last ``~`` annotation at
    or before ``s`` (clean before the first one).
    """
    if signal_index < 0:
        raise ValueError(f"signal_index must be >= 0, got {signal_index}")
    samples = np.asarray(samples, dtype=np.int64)
    noise_samples = np.asarray(noise_samples, dtype=np.int64)
    if noise_samples.size == 0:
        return np.zeros(samples.shape, dtype=bool)
    if np.any(np.diff(noise_samples) < 0):
        raise ValueError("noise annotations must be in time order")
    bits = (np.asarray(noise_subtypes, dtype=np.int64) >> signal_index) & 1
    last = np.searchsorted(noise_samples, samples, side="right") - 1
    return (last >= 0) & (bits[np.maximum(last, 0)] == 1)


def rhythm_episodes(path: str | Path, rhythm: str = "(VFL", annotator: str = "atr") -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` in which the reference rhythm annotation is ``rhythm``.

    A rhythm runs from its ``+`` annotation to the next ``+``, or to the end
    of the record.
    """
    import wfdb

    ann = wfdb.rdann(str(path), annotator)
    episodes, start = [], None
    for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note):
        if sym != "+":
            continue
        here = aux.strip("\x00")
        if here == rhythm and start is None:
            start = int(s)
        elif here != rhythm and start is not None:
            episodes.append((start, int(s)))
            start = None
    if start is not None:
        episodes.append((start, int(wfdb.rdheader(str(path)).sig_len)))
    return episodes

