"""Choose the ECG lead of a record, and read it in millivolts.

One rule for every tool that reads a WFDB record (``ecg-analyze``,
``ecg-replay``, training's dataset builder, the benchmarks),
:func:`choose_lead`:

1. **Asked for** (``requested``, the tools' ``--lead NAME|INDEX``): that
   signal, by its header name (case-insensitive) or by its 0-based index.
   A name no signal has, a name two signals share or an index out of range
   is an error that lists the record's leads.
2. **A standard lead**, by name, never by position: MLII, then II, V5, V1,
   V2, V4, I (:data:`LEAD_PREFERENCE`).  MIT-BIH does not keep its leads in
   one order (record 114 has V5 first, 102 and 104 have no MLII).  Names are
   compared without case, spaces or a leading "ECG"/"lead", so "ML II" and
   "ECG lead II" are MLII and II.
3. **Otherwise the first signal**: many databases name their leads only
   ``ECG`` (MIT-BIH Malignant Ventricular Ectopy, Creighton VT) or
   ``ECG1``/``ECG2`` (MIT-BIH Supraventricular), without saying which limb or
   chest leads they are; the first is the one their annotators mostly read.
   Signals whose name says they are not an ECG (ABP, RESP, PLETH, EEG ...,
   :data:`NON_ECG`) are passed over.  The choice says it was made this way
   (:attr:`LeadChoice.fallback`), and the tools print it, so nobody mistakes
   it for a named lead.

If no signal qualifies (only ABP and RESP, say), :func:`choose_lead`
refuses the record.  The AD8232 with RA/LA/RL electrodes records a lead
I-like bipolar signal closest to MLII, the lead the model learns on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SignalError

#: Leads in order of preference; MLII is what the model is trained on.
LEAD_PREFERENCE = ("MLII", "II", "V5", "V1", "V2", "V4", "I")
#: First words of signal names that are not ECG leads (passed over when falling back to the first signal).
NON_ECG = frozenset({"ABP", "ART", "BP", "PAP", "CVP", "ICP", "RESP", "PLETH", "PPG", "PULSE", "SPO2", "SAO2",
                     "SO2", "CO2", "EEG", "EOG", "EMG", "TEMP"})


@dataclass(frozen=True)
class LeadChoice:
    """Which signal of a record to use, and why.  Unpacks as ``index, reason = choose_lead(...)``."""

    index: int  # signal number in the header, from 0
    name: str  # its name as the header spells it
    reason: str  # why this one, a phrase
    fallback: bool = False  # no standard lead name (and none asked for): the first ECG signal was taken

    def __iter__(self):
        return iter((self.index, self.reason))

    def describe(self, hint: str = "") -> str:
        """``ECG1 (signal 0; no standard lead name in the header, the first is used[; hint])``.

        ``hint`` (e.g. "--lead to choose") is added only to a fallback choice.
        """
        extra = f"; {hint}" if hint and self.fallback else ""
        return f"{self.name} (signal {self.index}; {self.reason}{extra})"


def _norm(name: str) -> str:
    """A lead name for comparison: upper case, no spaces/_/-, no leading "ECG" or "LEAD"."""
    n = re.sub(r"[\s_\-]+", "", str(name).upper())
    for prefix in ("ECG", "LEAD"):
        if n.startswith(prefix):
            n = n[len(prefix):]
    return n


def _listing(names: list[str]) -> str:
    return ", ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"


def _by_name(names: list[str], text: str, key) -> LeadChoice | None:
    hits = [i for i, n in enumerate(names) if key(n) == key(text)]
    if len(hits) > 1:
        raise SignalError(f"lead {text!r}: {len(hits)} signals have that name "
                          f"({', '.join(map(str, hits))}); give the index instead. "
                          f"The record's leads: {_listing(names)}")
    return LeadChoice(hits[0], names[hits[0]], "chosen by name") if hits else None


def _requested(names: list[str], requested: str | int) -> LeadChoice:
    text = str(requested).strip()
    as_index = isinstance(requested, (int, np.integer)) and not isinstance(requested, bool)
    if not as_index:
        found = _by_name(names, text, lambda n: n.strip().upper())  # the name as written
        if found is not None:
            return found
    if as_index or text.isdigit():  # "1" is signal 1, not ECG1
        index = int(text)
        if 0 <= index < len(names):
            return LeadChoice(index, names[index], "chosen by index")
        raise SignalError(f"lead {index}: the record has {len(names)} signals, numbered from 0. "
                          f"The record's leads: {_listing(names)}")
    found = _by_name(names, text, _norm)  # "ml ii" for "MLII", "II" for "ECG lead II"
    if found is not None:
        return found
    raise SignalError(f"lead {text!r}: no signal has that name. The record's leads: {_listing(names)} "
                      "(give a name or an index)")


def choose_lead(names: list[str], requested: str | int | None = None, *,
                preference: tuple[str, ...] = LEAD_PREFERENCE) -> LeadChoice:
    """The signal of a record with header signal names ``names`` to use (the rule of this module).

    ``requested``: a signal name or 0-based index (a digit string is an index unless a signal has
    exactly that name: ``"1"`` is signal 1, never ``ECG1``), or None for the standard rule.  Raises :class:`SignalError` naming the
    record's leads when ``requested`` fits none, or when no signal qualifies.
    """
    names = [str(n) for n in names]
    if not names:
        raise SignalError("the record has no signals")
    if requested is not None:
        return _requested(names, requested)
    normalized = [_norm(n) for n in names]
    for rank, lead in enumerate(preference):
        if _norm(lead) in normalized:
            index = normalized.index(_norm(lead))
            why = "the preferred lead" if rank == 0 else f"the header has no {' or '.join(preference[:rank])}"
            return LeadChoice(index, names[index], why)
    ecg = [i for i, n in enumerate(names) if (re.findall(r"[A-Z0-9]+", n.upper()) or [""])[0] not in NON_ECG]
    if not ecg:
        raise SignalError(f"none of the leads {names} is usable: no standard lead name "
                          f"({', '.join(preference)}) and every signal is named as something else than an "
                          "ECG; pick one explicitly (--lead)")
    first = ecg[0]
    which = "the first is used" if first == 0 else "the first ECG signal is used"
    return LeadChoice(first, names[first], f"no standard lead name in the header, {which}", fallback=True)


@dataclass(frozen=True)
class Recording:
    """One lead of a record: samples in mV, the rate, and where it came from.

    ``signal`` holds NaN where the record has no valid sample (WFDB's missing-value code);
    :func:`invalid_runs` finds those stretches.
    """

    name: str
    lead: str
    fs: int
    signal: np.ndarray
    sampfrom: int = 0
    choice: LeadChoice | None = None  # how the lead was chosen

    @property
    def index(self) -> int:
        """The lead's signal number in the header."""
        return self.choice.index if self.choice is not None else 0


def read_record(path: str | Path, sampfrom: int = 0, sampto: int | None = None,
                preference: tuple[str, ...] = LEAD_PREFERENCE, lead: str | int | None = None) -> Recording:
    """Read one lead of WFDB record ``path`` (without extension) in mV: ``lead``, else :func:`choose_lead`'s."""
    import wfdb

    path = Path(path)
    header = wfdb.rdheader(str(path))
    choice = choose_lead(list(header.sig_name), lead, preference=preference)
    fs = float(header.fs)
    if fs != int(fs):
        raise SignalError(f"{path}: fractional sample rate {fs} Hz is not supported")
    rec = wfdb.rdrecord(str(path), sampfrom=sampfrom, sampto=sampto, channels=[choice.index])
    return Recording(path.name, rec.sig_name[0], int(fs), rec.p_signal[:, 0].astype(np.float64), sampfrom, choice)


def invalid_runs(signal: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the stretches of non-finite samples (NaN: WFDB's missing value), in order."""
    bad = ~np.isfinite(np.asarray(signal, dtype=np.float64))
    if not bad.any():
        return []
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
