"""Full-disclosure recording: each patient's conditioned 360 Hz ECG on disk as WFDB records.

Layout: ``<dir>/<patient>/<YYYYMMDD_HHMMSS>.{hea,dat,gw}`` (UTC start time; the files are written by
:mod:`gateway.service.wfdb_writer`).  A
record holds one stretch of continuous signal, at most ``record_minutes``
long; a gap (lost frames, lead off, reconnection, a restart of the gateway,
a pause for a full disk) always starts a new record.

* ``.dat``: WFDB format 16, one signal ``MLII`` (the kit's lead), 1000 adu/mV,
  the processor's conditioned signal (baseline removed, 40 Hz low-pass).
  Samples are appended every ``flush_s`` seconds of signal (then fsync).
* ``.hea``: rewritten atomically (temporary file + rename) after each append,
  with the number of samples written; a crash leaves a readable record of
  what was written up to the last flush (a torn tail of the ``.dat`` lies
  beyond the header's length and is ignored).
* ``.gw``: a WFDB (MIT format) annotation file, appended, never rewritten:
  beats (MIT-BIH codes; unclassified ``Q``), rhythm alerts as ``+`` with the
  aux ``(VT``, ``(VFL``, ``(B``, ``(T``, ``(SBR``, ``(SVTA``, ``(AFIB`` and
  ``(N`` where they cleared, other alerts as ``"`` with aux ``alert:<type>``
  (``alert:<type>:cleared``).  Annotations are held back ``HOLD_S`` seconds
  to be written in sample order; an alert that starts before the last
  written annotation is placed at that annotation.  The file has no
  terminator until the record is closed (``wfdb.rdann`` reads it either way).

Retention: records whose last write is older than ``retention_days``, then
the oldest while all recordings take more than ``max_disk_share`` of the
filesystem, are deleted (never an open record), each deletion logged.  When
the filesystem has less than ``MIN_FREE_SHARE`` free (or a write fails), the
recording pauses -- logged once; the processor, beats and alerts carry on --
and resumes in a new record once space is back.
"""

from __future__ import annotations

import errno
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..events import Alert, Beat
from ..signal.spec import MODEL_FS
from .wfdb_writer import ANNOTATION_EXT, CODES, RecordWriter

log = logging.getLogger(__name__)

#: Annotations are written this long after the signal frontier passed them (beats come ~1.5 s late).
HOLD_S = 5.0
#: Below this share of the filesystem free, recording pauses.
MIN_FREE_SHARE = 0.02
#: While paused, check for space again this often (seconds of wall time).
RETRY_S = 30.0
#: How often retention runs (seconds of wall time), besides at each new record.
RETENTION_EVERY_S = 600.0
RHYTHM_AUX = {"ventricular_fibrillation": "(VFL", "ventricular_run": "(VT", "bigeminy": "(B", "trigeminy": "(T",
              "bradycardia": "(SBR", "tachycardia": "(SVTA", "atrial_fibrillation": "(AFIB"}
@dataclass(frozen=True)
class RecordingSettings:
    dir: Path
    retention_days: float = 30.0
    max_disk_share: float = 0.5
    record_minutes: float = 60.0
    flush_s: float = 2.0


class DeviceRecorder:
    """The records of one device's stream: fed the processor's samples and events."""

    def __init__(self, recorder: "Recorder", patient: str, device: str, start_time: float):
        self.recorder, self.patient, self.device, self.start_time = recorder, patient, device, start_time
        self.current: RecordWriter | None = None
        self.closing: list[RecordWriter] = []  # ended records still taking late annotations
        self._last_flush = 0  # abs sample of the last flush
        self.frontier = 0

    # the processor's sample_sink
    def samples(self, abs_start: int, y: np.ndarray) -> None:
        r = self.recorder
        self.frontier = abs_start + y.size
        if not r.writable():
            self._end_current()
            return
        try:
            if self.current is not None and abs_start != self.current.end_abs:  # a gap: a new record
                self._end_current()
            limit = int(r.settings.record_minutes * 60 * MODEL_FS)
            while y.size:
                if self.current is None:
                    self.current = RecordWriter(r.settings.dir / self.patient, abs_start,
                                                self.start_time + abs_start / MODEL_FS, self.patient, self.device)
                    r.opened(self.current)
                take = min(y.size, limit - self.current.length)
                self.current.append(y[:take])
                y, abs_start = y[take:], abs_start + take
                if self.current.length >= limit:
                    self._end_current()
            if self.frontier - self._last_flush >= r.settings.flush_s * MODEL_FS:
                self.flush()
        except OSError as e:
            r.failed(e)
            self._drop_all()

    def events(self, events: list) -> None:
        if not self.recorder.writable():
            return
        for e in events:
            if isinstance(e, Beat):
                self._annotate(e.sample, 1, e.label if e.label in CODES else "Q", "")
            elif isinstance(e, Alert):
                t = e.start if e.state == "raised" else (e.end if e.end is not None else e.time)
                at = int(round((t - self.start_time) * MODEL_FS))
                if e.type in RHYTHM_AUX:
                    self._annotate(at, 0, "+", RHYTHM_AUX[e.type] if e.state == "raised" else "(N")
                else:
                    self._annotate(at, 2, '"', f"alert:{e.type}" + ("" if e.state == "raised" else ":cleared"))

    def flush(self, final: bool = False) -> None:
        self._last_flush = self.frontier
        hold = None if final else self.frontier - int(HOLD_S * MODEL_FS)
        try:
            for w in list(self.closing):
                if final or w.end_abs < hold:
                    w.close()
                    self.closing.remove(w)
                else:
                    w.flush(hold - w.start_abs)
            if self.current is not None:
                if final:
                    self.current.close()
                    self.current = None
                else:
                    self.current.flush(hold - self.current.start_abs)
        except OSError as e:
            self.recorder.failed(e)
            self._drop_all()

    def close(self) -> None:
        self.flush(final=True)

    def open_paths(self) -> set[Path]:
        return {w.path for w in [*self.closing, *([self.current] if self.current else [])]}

    def _annotate(self, abs_sample: int, order: int, symbol: str, aux: str) -> None:
        writers = [*self.closing, *([self.current] if self.current else [])]
        if not writers:
            return
        target = writers[0]
        for w in writers:
            if w.start_abs <= abs_sample:
                target = w
        target.annotate(min(abs_sample, target.end_abs) - target.start_abs, order, symbol, aux)

    def _end_current(self) -> None:
        if self.current is not None:
            self.closing.append(self.current)
            self.current = None

    def _drop_all(self) -> None:
        for w in [*self.closing, *([self.current] if self.current else [])]:
            try:
                w.close()
            except OSError:
                pass
        self.closing, self.current = [], None


class RecordingProcessor:
    """A :class:`~gateway.processor.StreamProcessor` whose samples and events are also recorded."""

    def __init__(self, processor, device: DeviceRecorder):
        self.processor, self.device = processor, device
        self._also = processor.sample_sink  # a hook already there (the live trace) still gets every sample
        processor.sample_sink = self._samples

    def __getattr__(self, name):
        return getattr(self.processor, name)

    def _samples(self, abs_start: int, y) -> None:
        try:
            self.device.samples(abs_start, y)
        except Exception:  # never into the processor
            log.exception("recording %s: cannot record samples", self.device.device)
        if self._also is not None:
            self._also(abs_start, y)

    def _guard(self, call) -> None:
        try:
            call()
        except Exception:
            log.exception("recording %s: failed", self.device.device)

    def _record(self, events: list) -> list:
        try:
            self.device.events(events)
        except Exception:  # the recording never costs an alert
            log.exception("recording %s: cannot annotate", self.device.device)
        return events

    def feed(self, samples, now: float, lead_off: bool = False) -> list:
        return self._record(self.processor.feed(samples, now, lead_off))

    def gap(self, missing_frames: int, now: float) -> list:
        return self._record(self.processor.gap(missing_frames, now))

    def tick(self, now: float) -> list:
        events = self._record(self.processor.tick(now))
        self._guard(self.device.recorder.maintain)
        return events

    def close(self, now: float) -> list:
        events = self._record(self.processor.close(now))
        self._guard(self.device.close)
        self.device.recorder.forget(self.device)
        return events

    def note_bad_frame(self) -> None:
        self.processor.note_bad_frame()


class Recorder:
    """Every device's recording under one directory, with retention and the disk-full pause."""

    def __init__(self, settings: RecordingSettings, *, disk_usage: Callable = shutil.disk_usage,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self._disk_usage, self._clock = disk_usage, clock
        self._lock = threading.RLock()
        self._devices: list[DeviceRecorder] = []
        self.paused: str | None = None  # why, while paused
        self._next_check = 0.0
        self._next_retention = 0.0
        try:  # a recording folder that cannot be made must not keep the gateway (and its alerts) down
            self.settings.dir.mkdir(parents=True, exist_ok=True)
            self._disk_usage(self.settings.dir)
        except OSError as e:
            self._pause(f"cannot use {self.settings.dir}: {e.strerror or e}")

    def wrap(self, processor, patient: str) -> RecordingProcessor:
        device = DeviceRecorder(self, patient, processor.stream.device_id, processor.start_time)
        with self._lock:
            self._devices.append(device)
        return RecordingProcessor(processor, device)

    def forget(self, device: DeviceRecorder) -> None:
        with self._lock:
            if device in self._devices:
                self._devices.remove(device)

    # -- disk ---------------------------------------------------------------------------------
    def writable(self) -> bool:
        if self.paused is None:
            return True
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + RETRY_S
        with self._lock:
            try:
                self.settings.dir.mkdir(parents=True, exist_ok=True)
                self.retention()
                space = self._has_space()
            except OSError:
                return False
            if space:
                log.warning("recording resumed (%s before); a new record starts", self.paused)
                self.paused = None
                return True
        return False

    def _has_space(self) -> bool:
        u = self._disk_usage(self.settings.dir)
        return u.free >= MIN_FREE_SHARE * u.total

    def failed(self, error: OSError) -> None:
        with self._lock:
            if self.paused is None:
                why = "disk full" if error.errno in (errno.ENOSPC, errno.EDQUOT) else f"write failed: {error}"
                self._pause(why)

    def _pause(self, why: str) -> None:
        self.paused = why
        self._next_check = self._clock() + RETRY_S
        log.error("recording paused: %s; beats and alerts continue, recording resumes when space is back", why)

    def opened(self, writer: RecordWriter) -> None:
        """A new record starts: apply the retention, check the space."""
        with self._lock:
            self.retention()
            if not self._has_space():
                self._pause("disk full")
                raise OSError(errno.ENOSPC, "disk full")

    def maintain(self) -> None:
        """About once a second (the processors' tick): periodic retention and space checks."""
        now = self._clock()
        if now < self._next_retention or self.paused is not None:
            return
        with self._lock:
            self._next_retention = now + RETENTION_EVERY_S
            self.retention()
            if not self._has_space():
                self._pause("disk full")

    def retention(self) -> list[Path]:
        """Delete records past ``retention_days``, then the oldest beyond ``max_disk_share``; returns them."""
        s = self.settings
        open_paths = set().union(*(d.open_paths() for d in self._devices)) if self._devices else set()
        records = []
        for hea in s.dir.glob("*/*.hea"):
            base = hea.with_suffix("")
            if base in open_paths:
                continue
            files = [f for f in hea.parent.glob(f"{base.name}.*") if f.suffix in (".hea", ".dat", f".{ANNOTATION_EXT}")]
            try:
                mtime = max(f.stat().st_mtime for f in files)
                size = sum(f.stat().st_size for f in files)
            except OSError:
                continue
            records.append((mtime, base, files, size))
        records.sort(key=lambda r: (r[0], str(r[1])))
        deleted = []
        now = self._clock()
        total_size = sum(f.stat().st_size for f in s.dir.rglob("*") if f.is_file())
        disk = self._disk_usage(s.dir).total
        for mtime, base, files, size in records:
            age = (now - mtime) / 86400
            if age > s.retention_days:
                why = f"{age:.1f} days old, retention_days {s.retention_days:g}"
            elif total_size > s.max_disk_share * disk:
                why = f"recordings take {100 * total_size / disk:.1f} % of the disk, max_disk_share {s.max_disk_share:g}"
            else:
                continue
            for f in files:
                f.unlink(missing_ok=True)
            total_size -= size
            deleted.append(base)
            log.warning("recording retention: deleted %s (%s)", base.relative_to(s.dir), why)
        return deleted


def make_recorder(config, state_dir: str) -> Recorder | None:
    """The service's recorder from its ``[recording]`` section (None when disabled)."""
    if not config.enabled:
        return None
    return Recorder(RecordingSettings(Path(config.dir or Path(state_dir) / "recordings"), config.retention_days, config.max_disk_share,
                                      config.record_minutes, config.flush_s))
