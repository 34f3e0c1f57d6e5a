"""Inputs of the report: WFDB records, EDF/EDF+ files (edfio) and CSV files with a declared rate, in mV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import SignalError
from ..signal.leads import LEAD_PREFERENCE, choose_lead, read_record


class InputError(ValueError):
    """A file that cannot be read as an ECG; the message is one line naming the file."""


@dataclass
class Source:
    name: str
    fs: int
    signal: np.ndarray  # mV
    start: float | None  # Unix seconds, if the file says
    offset: float = 0.0  # where it lies on the report's axis, Unix seconds (or seconds from 0)
    path: Path | None = None  # a WFDB record: its path without extension


# ---------------------------------------------------------------- inputs
def load(path: str, rate: float | None = None, column: str | None = None) -> Source:
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".edf", ".bdf"):
            return _load_edf(p)
        if suffix in (".csv", ".txt"):
            return _load_csv(p, rate, column)
        base = p.with_suffix("") if suffix in (".hea", ".dat") else p
        if not Path(f"{base}.hea").is_file():
            raise InputError(f"{path}: no such WFDB record, EDF or CSV file")
        import wfdb

        rec = read_record(base)
        header = wfdb.rdheader(str(base))
        dt = header.base_datetime if header.base_date is not None and header.base_time is not None else None
        start = dt.replace(tzinfo=timezone.utc).timestamp() if dt is not None else None
        return Source(rec.name, rec.fs, rec.signal, start, path=base)
    except InputError:
        raise
    except (SignalError, OSError, ValueError, KeyError, IndexError) as e:
        raise InputError(f"{path}: cannot read it as an ECG: {' '.join(str(e).split())}") from None


def _load_edf(p: Path) -> Source:
    try:
        import edfio
    except ImportError:
        raise InputError(f"{p}: EDF needs the edfio package (pip install ecg-edge[edf])") from None
    try:
        edf = edfio.read_edf(p)
    except Exception as e:
        raise InputError(f"{p}: not a valid EDF/EDF+ file: {' '.join(str(e).split())}") from None
    signals = [s for s in edf.signals]
    if not signals:
        raise InputError(f"{p}: the EDF holds no signal")
    labels = [s.label.replace("ECG", "").strip() or s.label for s in signals]
    try:
        idx = choose_lead(labels, LEAD_PREFERENCE)
    except SignalError:
        idx = 0
    s = signals[idx]
    fs = s.sampling_frequency
    if fs != int(fs):
        raise InputError(f"{p}: fractional sample rate {fs} Hz is not supported")
    unit = s.physical_dimension.strip().lower()
    scale = {"uv": 1e-3, "µv": 1e-3, "v": 1e3}.get(unit, 1.0)
    try:  # an anonymised EDF+ has no start date
        start = datetime.combine(edf.startdate, edf.starttime).replace(tzinfo=timezone.utc).timestamp()
    except Exception:
        start = None
    return Source(p.stem, int(fs), np.asarray(s.data, float) * scale, start)


def _load_csv(p: Path, rate: float | None, column: str | None) -> Source:
    if not rate:
        raise InputError(f"{p}: a CSV file needs its sample rate: --rate HZ")
    if rate != int(rate):
        raise InputError(f"{p}: fractional sample rate {rate} Hz is not supported")
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read: {e}") from None
    if not lines:
        raise InputError(f"{p}: the CSV file is empty")
    first = [c.strip() for c in lines[0].split(",")]
    try:
        [float(c) for c in first]
        names, body = [f"column {i + 1}" for i in range(len(first))], lines
    except ValueError:
        names, body = first, lines[1:]
    if column is not None:
        if column not in names:
            raise InputError(f"{p}: no column {column!r}; the columns are {', '.join(names)}")
        idx = names.index(column)
    elif len(names) == 1:
        idx = 0
    else:
        raise InputError(f"{p}: {len(names)} columns ({', '.join(names)}); name the ECG one with --column")
    try:
        x = np.array([float(line.split(",")[idx]) for line in body if line.strip()])
    except (ValueError, IndexError):
        raise InputError(f"{p}: column {names[idx]!r} holds a value that is not a number") from None
    return Source(p.stem, int(rate), x, None)
