"""The alert outbox: durable before publishing, ordered, forgotten only on acknowledgement."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from gateway.service.outbox import Outbox


def test_alerts_wait_in_the_order_they_were_written(tmp_path):
    box = Outbox(tmp_path)
    for i in range(5):
        box.add(f"id-{i}", "ecg/p1/alert", f"payload {i}".encode(), 1000.0 + i)
    pending = box.pending()
    assert [p.alert_id for p in pending] == [f"id-{i}" for i in range(5)]
    assert [p.payload for p in pending] == [f"payload {i}".encode() for i in range(5)]
    assert len(box) == 5


def test_an_acknowledged_alert_is_forgotten_and_the_others_stay(tmp_path):
    box = Outbox(tmp_path)
    seqs = [box.add(f"id-{i}", "t", b"x", 0.0) for i in range(3)]
    box.remove(seqs[1])
    assert [p.alert_id for p in box.pending()] == ["id-0", "id-2"]


def test_the_same_alert_id_is_stored_once(tmp_path):
    box = Outbox(tmp_path)
    first = box.add("same", "t", b"one", 0.0)
    again = box.add("same", "t", b"two", 1.0)
    assert first == again
    assert [p.payload for p in box.pending()] == [b"one"]


def test_an_alert_survives_a_crash_right_after_it_was_written(tmp_path):
    # A child process writes one alert and dies without closing anything.
    code = ("import os, sys; from gateway.service.outbox import Outbox; "
            "Outbox(sys.argv[1]).add('crash-1', 'ecg/p1/alert', b'{}', 5.0); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert [p.alert_id for p in Outbox(tmp_path).pending()] == ["crash-1"]


def test_the_database_is_in_wal_mode(tmp_path):
    Outbox(tmp_path).add("a", "t", b"x", 0.0)
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path):
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(OSError, match="schema version 99 is newer"):
        Outbox(tmp_path)
