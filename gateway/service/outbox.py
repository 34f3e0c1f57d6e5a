"""Durable outbox for alerts: written to disk before publishing, removed after the broker's PUBACK.

An alert must reach the caregiver even when it is raised while the
broker is unreachable, or just before the gateway crashes or the Pi loses
power.  So every alert is committed here first (SQLite in WAL mode with
``synchronous=FULL``: the row is on disk when :meth:`Outbox.add` returns),
and its row is deleted only once the broker has acknowledged the QoS 1
publish.  Rows left over from a previous run are published again, oldest
first, when the gateway connects; their alert ids let subscribers drop the
duplicates that an acknowledgement lost in a crash can cause.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Pending:
    """An alert not yet acknowledged by the broker."""

    seq: int  # order of writing; publishing follows it
    alert_id: str
    topic: str
    payload: bytes
    created: float


class Outbox:
    """The alert outbox in ``state_dir/outbox.sqlite3`` (one writer: the gateway's event loop)."""

    def __init__(self, state_dir: str | Path):
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / "outbox.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None)  # autocommit: each statement is durable
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise OSError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); is the state directory on a local disk?")
        self._db.execute("PRAGMA synchronous=FULL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise OSError(f"{self.path}: outbox schema version {version} is newer than this gateway ({SCHEMA_VERSION})")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " alert_id TEXT NOT NULL UNIQUE,"
            " topic TEXT NOT NULL,"
            " payload BLOB NOT NULL,"
            " created REAL NOT NULL)")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def add(self, alert_id: str, topic: str, payload: bytes, created: float) -> int:
        """Store an alert durably and return its ``seq``; an id already stored is kept once."""
        self._db.execute("INSERT OR IGNORE INTO outbox (alert_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                         (alert_id, topic, payload, created))
        return self._db.execute("SELECT seq FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()[0]

    def pending(self) -> list[Pending]:
        """Every unacknowledged alert, oldest first."""
        rows = self._db.execute("SELECT seq, alert_id, topic, payload, created FROM outbox ORDER BY seq")
        return [Pending(seq, alert_id, topic, bytes(payload), created) for seq, alert_id, topic, payload, created in rows]

    def remove(self, seq: int) -> None:
        """The broker acknowledged this alert: forget it."""
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        self._db.close()
