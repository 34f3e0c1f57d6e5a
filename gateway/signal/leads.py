"""Choose the ECG lead by name and read a WFDB record in millivolts.

MIT-BIH does not keep its leads in one order (record 114 has V5 first,
102 and 104 have no MLII), so a lead is always picked by the name in the
header, never by position.  The AD8232 with RA/LA/RL electrodes records
lead I-like bipolar signals closest to MLII, the lead the model learns on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SignalError

#: Leads in order of preference; MLII is what the model is trained on.
LEAD_PREFERENCE = ("MLII", "II", "V5", "V1", "V2", "V4", "I")


def choose_lead(names: list[str], preference: tuple[str, ...] = LEAD_PREFERENCE) -> int:
    """Index of the most preferred lead among ``names``; error if none is usable."""
    normalized = [n.strip().upper() for n in names]
    for lead in preference:
        if lead.upper() in normalized:
            return normalized.index(lead.upper())
    raise SignalError(f"none of the leads {names} is usable; expected one of {list(preference)}")


@dataclass(frozen=True)
class Recording:
    """One lead of a record: samples in mV, the rate, and where it came from."""

    name: str
    lead: str
    fs: int
    signal: np.ndarray
    sampfrom: int = 0


def read_record(path: str | Path, sampfrom: int = 0, sampto: int | None = None,
                preference: tuple[str, ...] = LEAD_PREFERENCE) -> Recording:
    """Read the preferred lead of WFDB record ``path`` (without extension) in mV."""
    import wfdb

    path = Path(path)
    header = wfdb.rdheader(str(path))
    idx = choose_lead(list(header.sig_name), preference)
    rec = wfdb.rdrecord(str(path), sampfrom=sampfrom, sampto=sampto, channels=[idx])
    fs = float(rec.fs)
    if fs != int(fs):
        raise SignalError(f"{path}: fractional sample rate {fs} Hz is not supported")
    return Recording(path.name, rec.sig_name[0], int(fs), rec.p_signal[:, 0].astype(np.float64), sampfrom)
