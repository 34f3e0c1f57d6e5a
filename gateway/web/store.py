"""The console's own SQLite store: users, their patients, sessions, alerts with strips, acknowledgements.

WAL mode with ``synchronous=FULL``: an alert or acknowledgement is on disk
before the MQTT client acknowledges it to the broker (the MQTT thread
writes here inside its message callback), so history survives a restart or
a power cut of the console, and what the broker still had queued for the
console's persistent session arrives on its next start.  Alerts are keyed
by their id (an alert can arrive twice: the gateway re-sends after a lost
PUBACK), acknowledgements by the alert they acknowledge (the first one
wins; every console and Home Assistant see the same one over MQTT).

One connection shared by the loop and the MQTT thread behind a lock: the
console writes a few rows a minute, and one connection keeps it small.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL,
                                  params TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                                        patient TEXT NOT NULL, PRIMARY KEY (user, patient));
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
                                     created REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, patient TEXT NOT NULL, type TEXT NOT NULL,
                                   severity TEXT NOT NULL, state TEXT NOT NULL, time REAL NOT NULL,
                                   body TEXT NOT NULL, strip BLOB, received REAL NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_by_patient ON alerts (patient, time);
CREATE TABLE IF NOT EXISTS acks (alert_id TEXT PRIMARY KEY, patient TEXT NOT NULL, by TEXT NOT NULL,
                                 at REAL NOT NULL, console TEXT NOT NULL);
"""


@dataclass(frozen=True)
class User:
    name: str
    salt: bytes
    hash: bytes
    params: dict


@dataclass(frozen=True)
class Ack:
    alert_id: str
    patient: str
    by: str
    at: float
    console: str

    def to_dict(self) -> dict:
        return {"alert_id": self.alert_id, "patient": self.patient, "by": self.by, "at": self.at,
                "console": self.console}


class Store:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _changes(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # -- users and assignments --------------------------------------------------------------------
    def put_user(self, name: str, salt: bytes, hash: bytes, params: dict, patients: list[str], now: float) -> None:
        """Create or replace a user (a new password ends their sessions) with exactly these patients."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                           "salt = excluded.salt, hash = excluded.hash, params = excluded.params",
                           (name, salt, hash, json.dumps(params), now))
                db.execute("DELETE FROM assignments WHERE user = ?", (name,))
                db.executemany("INSERT INTO assignments VALUES (?, ?)", [(name, p) for p in dict.fromkeys(patients)])
                db.execute("DELETE FROM sessions WHERE user = ?", (name,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def user(self, name: str) -> User | None:
        rows = self._run("SELECT name, salt, hash, params FROM users WHERE name = ?", (name,))
        return User(rows[0][0], rows[0][1], rows[0][2], json.loads(rows[0][3])) if rows else None

    def users(self) -> list[tuple[str, list[str]]]:
        names = [r[0] for r in self._run("SELECT name FROM users ORDER BY name")]
        return [(n, self.patients_of(n)) for n in names]

    def patients_of(self, user: str) -> list[str]:
        return [r[0] for r in self._run("SELECT patient FROM assignments WHERE user = ? ORDER BY patient", (user,))]

    # -- sessions ----------------------------------------------------------------------------------
    def add_session(self, token_hash: str, user: str, csrf: str, now: float) -> None:
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", (token_hash, user, csrf, now, now))

    def session(self, token_hash: str) -> tuple[str, str, float] | None:
        """(user, csrf token, last seen) of a session."""
        rows = self._run("SELECT user, csrf, last_seen FROM sessions WHERE token_hash = ?", (token_hash,))
        return rows[0] if rows else None

    def touch_session(self, token_hash: str, now: float) -> None:
        self._run("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, token_hash))

    def end_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def end_sessions_idle_since(self, before: float) -> int:
        return self._changes("DELETE FROM sessions WHERE last_seen < ?", (before,))

    # -- alerts and acknowledgements ---------------------------------------------------------------
    def add_alert(self, alert: dict, strip: bytes | None, now: float) -> bool:
        """Keep an alert (its JSON without the strip, and the strip PNG); False when its id is known."""
        body = json.dumps({k: v for k, v in alert.items() if k != "strip_png"})
        return self._changes("INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (alert["id"], alert["patient_id"], alert["type"], alert["severity"], alert["state"],
                              float(alert["time"]), body, strip, now)) == 1

    def alert(self, alert_id: str) -> dict | None:
        rows = self._run("SELECT body, strip IS NOT NULL FROM alerts WHERE id = ?", (alert_id,))
        return self._with_ack(json.loads(rows[0][0]), bool(rows[0][1])) if rows else None

    def strip(self, alert_id: str) -> tuple[str, bytes | None] | None:
        rows = self._run("SELECT patient, strip FROM alerts WHERE id = ?", (alert_id,))
        return rows[0] if rows else None

    def alerts(self, patient: str, limit: int = 100) -> list[dict]:
        """The patient's latest alerts, newest first, each with its acknowledgement (or None)."""
        rows = self._run("SELECT body, strip IS NOT NULL FROM alerts WHERE patient = ? ORDER BY time DESC LIMIT ?",
                         (patient, limit))
        return [self._with_ack(json.loads(body), bool(strip)) for body, strip in rows]

    def unacknowledged_critical(self) -> list[dict]:
        """Raised critical alerts without an acknowledgement whose episode has not cleared since."""
        rows = self._run(
            "SELECT a.body FROM alerts a WHERE a.severity = 'critical' AND a.state = 'raised' "
            "AND NOT EXISTS (SELECT 1 FROM acks k WHERE k.alert_id = a.id) "
            "AND NOT EXISTS (SELECT 1 FROM alerts c WHERE c.patient = a.patient AND c.type = a.type "
            "                AND c.state = 'cleared' AND c.time >= a.time) ORDER BY a.time")
        return [json.loads(r[0]) for r in rows]

    def add_ack(self, ack: Ack) -> bool:
        """Keep an acknowledgement; False when the alert already had one (the first one stands)."""
        return self._changes("INSERT OR IGNORE INTO acks VALUES (?, ?, ?, ?, ?)",
                             (ack.alert_id, ack.patient, ack.by, ack.at, ack.console)) == 1

    def ack(self, alert_id: str) -> Ack | None:
        rows = self._run("SELECT alert_id, patient, by, at, console FROM acks WHERE alert_id = ?", (alert_id,))
        return Ack(*rows[0]) if rows else None

    def _with_ack(self, alert: dict, has_strip: bool) -> dict:
        ack = self.ack(alert["id"])
        return {**alert, "has_strip": has_strip, "ack": ack.to_dict() if ack else None}
