"""An incrementally written WFDB record: format 16 samples appended, the header rewritten atomically,
MIT-format annotations appended (see :mod:`gateway.service.recorder` and docs/recording.md)."""

from __future__ import annotations

import os
import struct
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..signal.spec import MODEL_FS

ANNOTATION_EXT = "gw"
#: ADC units per mV in the ``.dat`` (format 16: +-32.7 mV, 1 uV steps).
GAIN = 1000
#: MIT annotation codes of the symbols written.
CODES = {"N": 1, "L": 2, "R": 3, "a": 4, "V": 5, "F": 6, "J": 7, "A": 8, "S": 9, "E": 10, "j": 11, "/": 12,
         "Q": 13, "~": 14, "|": 16, '"': 22, "+": 28, "!": 31, "e": 34, "x": 37, "f": 38}
_SKIP, _AUX = 59, 63


def encode_annotation(interval: int, symbol: str, aux: str = "") -> bytes:
    """One MIT-format annotation ``interval`` samples after the previous one."""
    code = CODES.get(symbol, CODES["Q"])
    out = b""
    if interval > 1023:
        out += struct.pack("<H", _SKIP << 10) + struct.pack("<HH", (interval >> 16) & 0xFFFF, interval & 0xFFFF)
        interval = 0
    out += struct.pack("<H", (code << 10) | interval)
    if aux:
        raw = aux.encode("ascii", "replace")[:255]
        out += struct.pack("<H", (_AUX << 10) | len(raw)) + raw + (b"\0" if len(raw) % 2 else b"")
    return out


class RecordWriter:
    """One WFDB record being written incrementally."""

    def __init__(self, folder: Path, start_abs: int, start_time: float, patient: str, device: str):
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(start_time, timezone.utc)
        name, n = stamp.strftime("%Y%m%d_%H%M%S"), 1
        while (folder / f"{name}.hea").exists() or (folder / f"{name}.dat").exists():
            name, n = f"{stamp.strftime('%Y%m%d_%H%M%S')}_{n}", n + 1
        self.folder, self.name, self.stamp = folder, name, stamp
        self.start_abs, self.start_time, self.patient, self.device = start_abs, start_time, patient, device
        self.length = 0  # samples received
        self.written = 0  # samples on disk (and in the header)
        self._pending: list[np.ndarray] = []
        self._checksum = 0
        self._first: int | None = None
        self._anns: list[tuple[int, int, str, str]] = []  # (sample, order, symbol, aux) not yet written
        self._ann_last = 0
        self._ann_file = open(folder / f"{name}.{ANNOTATION_EXT}", "ab")
        self._dat = open(folder / f"{name}.dat", "ab")
        self.closed = False

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def end_abs(self) -> int:
        return self.start_abs + self.length

    def append(self, y: np.ndarray) -> None:
        d = np.clip(np.round(np.asarray(y) * GAIN), -32767, 32767).astype("<i2")
        if self._first is None and d.size:
            self._first = int(d[0])
        self._pending.append(d)
        self.length += d.size

    def annotate(self, sample: int, order: int, symbol: str, aux: str = "") -> None:
        self._anns.append((max(sample, 0), order, symbol, aux))

    def flush(self, hold_to: int | None = None) -> None:
        """Append the pending samples (fsync), rewrite the header, append annotations before ``hold_to``."""
        if self._pending:
            data = np.concatenate(self._pending)
            self._pending = []
            self._dat.write(data.tobytes())
            self._dat.flush()
            os.fsync(self._dat.fileno())
            self._checksum = (self._checksum + int(data.astype(np.int64).sum())) & 0xFFFF
            self.written += data.size
            self._write_header()
        self._anns.sort()
        ready = [a for a in self._anns if hold_to is None or a[0] < hold_to]
        if ready:
            self._anns = self._anns[len(ready):]
            out = b""
            for sample, _, symbol, aux in ready:
                sample = max(sample, self._ann_last)
                out += encode_annotation(sample - self._ann_last, symbol, aux)
                self._ann_last = sample
            self._ann_file.write(out)
            self._ann_file.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.flush()
            self._ann_file.write(b"\0\0")
        finally:
            self._ann_file.close()
            self._dat.close()
        if self.written == 0:  # nothing reached the disk: leave no empty record behind
            for ext in ("dat", ANNOTATION_EXT, "hea"):
                (self.folder / f"{self.name}.{ext}").unlink(missing_ok=True)

    def _write_header(self) -> None:
        checksum = self._checksum - 0x10000 if self._checksum >= 0x8000 else self._checksum
        t = self.stamp
        text = (f"{self.name} 1 {MODEL_FS} {self.written} {t:%H:%M:%S}.{t.microsecond // 1000:03d} {t:%d/%m/%Y}\n"
                f"{self.name}.dat 16 {GAIN}(0)/mV 16 0 {self._first or 0} {checksum} 0 MLII\n"
                f"# ecg-edge recording: patient {self.patient}, device {self.device}; time UTC; "
                f"conditioned ECG (baseline removed, 40 Hz low-pass); annotations in .{ANNOTATION_EXT}\n"
                f"# start_unix {self.start_time:.3f}\n")
        tmp = self.folder / f".{self.name}.hea.tmp"
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / f"{self.name}.hea")
