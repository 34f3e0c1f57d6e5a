"""Full-disclosure recording: incremental WFDB records, gaps, retention, full disk, restarts."""

from __future__ import annotations

import errno
import logging
import os
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import wfdb

from gateway.events import Alert, Beat
from gateway.service.recorder import Recorder, RecordingSettings

Usage = namedtuple("Usage", "total used free")
FS = 360


class FakeProcessor:
    """Stands in for a StreamProcessor: pushes samples to its sink, returns canned events."""

    def __init__(self, start_time=1_764_662_400.0):
        self.stream = type("S", (), {"device_id": "kit1"})()
        self.start_time = start_time
        self.sample_sink = None
        self.abs = 0
        self.events: list = []

    def feed(self, y, now, lead_off=False):
        self.sample_sink(self.abs, np.asarray(y, float))
        self.abs += len(y)
        out, self.events = self.events, []
        return out

    def gap(self, missing, now):
        self.abs += missing * 36 + 1000
        return []

    def tick(self, now):
        return []

    def close(self, now):
        return []


def beat(sample, label="N", start=1_764_662_400.0):
    return Beat("kit1", sample, start + sample / FS, label, 0.9, None)


def alert(type_, start, state="raised", end=None):
    return Alert("id", "kit1", "p1", type_, "critical", start, start + 2, 80.0, {}, "m", "msg", state, None, end)


def recorder(tmp_path, free=10**12, clock=None, **kw):
    usage = {"u": Usage(10**12, 10**12 - free, free)}
    r = Recorder(RecordingSettings(tmp_path / "rec", **kw), disk_usage=lambda p: usage["u"],
                 clock=clock or (lambda: 1_764_662_400.0))
    return r, usage


def records(tmp_path):
    return sorted(p.with_suffix("") for p in (tmp_path / "rec" / "p1").glob("*.hea"))


def test_incremental_record_is_readable_midway(tmp_path):
    r, _ = recorder(tmp_path, flush_s=1.0)
    proc = r.wrap(FakeProcessor(), "p1")
    sine = np.sin(np.arange(FS * 20) / 20)
    for i in range(10):  # 10 s, each second a frame with a beat in it
        proc.processor.events = [beat(i * FS + 100, "V" if i == 5 else "N")]
        proc.feed(sine[i * FS:(i + 1) * FS], 0)
    (rec,) = records(tmp_path)
    mid = wfdb.rdrecord(str(rec))  # still open: no annotation terminator yet
    assert mid.sig_name == ["MLII"] and mid.fs == FS and mid.sig_len >= 9 * FS
    assert np.allclose(mid.p_signal[:, 0], sine[:mid.sig_len], atol=1e-3)
    ann = wfdb.rdann(str(rec), "gw")  # beats older than the hold are on disk already
    assert list(ann.sample[:3]) == [100, FS + 100, 2 * FS + 100] and ann.symbol[0] == "N"
    proc.processor.events = [alert("ventricular_run", 1_764_662_400.0 + 7.2), alert("pause", 1_764_662_400.0 + 7.5)]
    proc.feed(sine[10 * FS:11 * FS], 0)
    proc.close(0)
    ann = wfdb.rdann(str(rec), "gw")
    assert ann.symbol.count("V") == 1 and ann.symbol.count("N") == 9
    assert "(VT" in ann.aux_note and "alert:pause" in ann.aux_note
    assert int(ann.sample[ann.aux_note.index("(VT")]) == round(7.2 * FS)
    assert wfdb.rdrecord(str(rec)).sig_len == 11 * FS


def test_a_torn_tail_after_a_crash_leaves_a_readable_record(tmp_path):
    r, _ = recorder(tmp_path, flush_s=1.0)
    proc = r.wrap(FakeProcessor(), "p1")
    proc.feed(np.zeros(3 * FS) + 0.5, 0)
    (rec,) = records(tmp_path)
    with open(f"{rec}.dat", "ab") as f:  # a power cut in the middle of an append
        f.write(b"\x01\x02\x03")
    got = wfdb.rdrecord(str(rec))
    assert got.sig_len == 3 * FS and np.allclose(got.p_signal, 0.5)


def test_a_gap_starts_a_new_record_and_records_split_at_record_minutes(tmp_path):
    r, _ = recorder(tmp_path, record_minutes=1.0)
    proc = r.wrap(FakeProcessor(), "p1")
    for _ in range(90):
        proc.feed(np.zeros(FS), 0)
    proc.gap(3, 0)
    proc.feed(np.zeros(FS * 5), 0)
    proc.close(0)
    lens = [wfdb.rdheader(str(p)).sig_len for p in records(tmp_path)]
    assert lens == [60 * FS, 30 * FS, 5 * FS]
    starts = [wfdb.rdheader(str(p)).base_datetime for p in records(tmp_path)]
    assert (starts[1] - starts[0]).total_seconds() == 60


def test_retention_deletes_the_oldest_first_and_logs_it(tmp_path, caplog):
    now = 1_764_662_400.0
    r, usage = recorder(tmp_path, retention_days=2, max_disk_share=0.5, clock=lambda: now)
    folder = tmp_path / "rec" / "p1"
    folder.mkdir(parents=True)
    for i, days in enumerate([5, 1.5, 1.0, 0.5]):
        for ext in ("hea", "dat", "gw"):
            f = folder / f"2026110{i}_000000.{ext}"
            f.write_bytes(b"x" * 100)
            os.utime(f, (now - days * 86400, now - days * 86400))
    caplog.set_level(logging.WARNING)
    assert [p.name for p in r.retention()] == ["20261100_000000"]  # past retention_days
    assert "retention_days" in caplog.text
    usage["u"] = Usage(1400, 0, 1400)  # 900 bytes of recordings on a 1400-byte disk: over half
    assert [p.name for p in r.retention()] == ["20261101_000000"]
    assert "max_disk_share" in caplog.text
    assert len(list(folder.glob("*.hea"))) == 2


def test_a_full_disk_pauses_recording_without_losing_alerts(tmp_path, caplog, monkeypatch):
    clock = {"t": 1_764_662_400.0}
    r, usage = recorder(tmp_path, clock=lambda: clock["t"], flush_s=1.0)
    proc = r.wrap(FakeProcessor(), "p1")
    proc.feed(np.zeros(2 * FS), 0)
    caplog.set_level(logging.WARNING)
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    usage["u"] = Usage(10**12, 10**12, 0)
    proc.processor.events = [alert("ventricular_run", clock["t"] + 1)]
    out = proc.feed(np.zeros(2 * FS), 0)
    assert [a.type for a in out] == ["ventricular_run"]  # the alert still goes out
    assert r.paused == "disk full" and "recording paused: disk full" in caplog.text
    proc.processor.events = [alert("pause", clock["t"] + 3)]
    assert [a.type for a in proc.feed(np.zeros(2 * FS), 0)] == ["pause"]
    monkeypatch.setattr(os, "fsync", real_fsync)
    usage["u"] = Usage(10**12, 0, 10**12)
    clock["t"] += 60
    proc.feed(np.zeros(3 * FS), 0)
    assert r.paused is None and "recording resumed" in caplog.text
    proc.close(0)
    assert len(records(tmp_path)) == 2  # the pause is a gap: a new record after it


def test_a_restart_continues_in_a_new_record(tmp_path):
    for _ in range(2):  # the same start second twice: the second record gets a suffix
        r, _ = recorder(tmp_path)
        proc = r.wrap(FakeProcessor(), "p1")
        proc.feed(np.zeros(2 * FS), 0)
        proc.close(0)
    names = [p.name for p in records(tmp_path)]
    assert names == ["20251202_080000", "20251202_080000_1"]
    assert all(wfdb.rdrecord(str(p)).sig_len == 2 * FS for p in records(tmp_path))


def test_the_real_processor_feeds_the_recorder(tmp_path):
    from gateway.device import DeviceStream
    from gateway.processor import ProcessorConfig, StreamProcessor
    from gateway.signal.leads import read_record

    pytest.importorskip("gateway.classify.model")
    from gateway.classify.model import load_model

    clf = load_model(None, None)
    rec = read_record(Path(__file__).parent / "fixtures" / "mitdb" / "e119")
    stream = DeviceStream("kit1", "p1", rec.fs, adc_bits=16, gain=165.0)
    r, _ = recorder(tmp_path)
    proc = r.wrap(StreamProcessor(stream, clf, ProcessorConfig(strips=False), 1_764_662_400.0), "p1")
    counts = stream.mv_to_counts(rec.signal)
    beats = []
    for i in range(0, counts.size, rec.fs):
        beats += [e for e in proc.feed(counts[i:i + rec.fs], 1_764_662_400.0 + i / rec.fs) if isinstance(e, Beat)]
    beats += [e for e in proc.close(1_764_662_400.0 + 100) if isinstance(e, Beat)]
    (path,) = records(tmp_path)
    ann = wfdb.rdann(str(path), "gw")
    assert len([s for s in ann.symbol if s not in '+"']) == len(beats)
    assert abs(wfdb.rdheader(str(path)).sig_len - counts.size) < FS
    # the report reads the recording (given as its file names, as a shell glob gives them)
    from gateway.tools.report import main as report

    files = sorted(str(p) for p in path.parent.glob(f"{path.name}.*"))
    assert report([*files, "--report", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "2025-12-02 08:00:00 UTC" in page and "id='strips'" in page
    # ... and its recorded beat labels, without running the processor again
    capsys_free = report([str(path), "--annotations", "gw", "--report", str(tmp_path / "a.html")])
    assert capsys_free == 0
    fast = (tmp_path / "a.html").read_text()
    assert f"<tr><td>beats</td><td>{len(beats)}</td></tr>" in fast


@pytest.mark.parametrize("enabled", [True, False])
def test_the_service_wraps_its_processors_when_recording_is_on(tmp_path, enabled):
    from gateway.classify.model import load_model
    from gateway.processor import StreamProcessor
    from gateway.service.config import parse_config
    from gateway.service.main import Gateway
    from gateway.service.protocol import StreamParams
    from gateway.service.recorder import RecordingProcessor

    config = parse_config({"devices": {"kit1": {"patient": "p1", "token": "t0ken-t0ken"}},
                           "state": {"dir": str(tmp_path)}, "recording": {"enabled": enabled}})
    gw = Gateway(config, load_model(None, None))
    proc = gw.make_processor(StreamParams("kit1", "t0ken-t0ken"), config.devices["kit1"], 1_764_662_400.0)
    assert isinstance(proc, RecordingProcessor if enabled else StreamProcessor)
    assert (tmp_path / "recordings").is_dir() == enabled
    rng = np.random.default_rng(0)
    for i in range(5):
        proc.feed(rng.integers(1800, 2300, 360), 1_764_662_401.0 + i)
    proc.close(1_764_662_410.0)
