"""Run ``ecg-gateway`` as a child process the way systemd does (``Type=notify``).

``ecg-demo``, the end-to-end tests and the benchmarks start the real
service this way: a throw-away configuration, a private ``NOTIFY_SOCKET``
on which the child's ``READY=1`` and ``STATUS=`` lines arrive, and a clean
SIGTERM stop whose exit code is checked.  So they exercise the same start-up
and shutdown paths as the Raspberry Pi's unit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoDevice:
    device_id: str
    patient: str
    token: str
    gain: float = 1100.0


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string is JSON-compatible for these values


def write_config(path: str | Path, *, ws_port: int, mqtt_port: int, state_dir: str | Path,
                 devices: list[DemoDevice], sections: dict[str, dict[str, object]] | None = None) -> Path:
    """A loopback gateway configuration; ``sections`` adds or overrides keys (``{"server.limits": {...}}``)."""
    tables: dict[str, dict[str, object]] = {
        "server": {"host": "127.0.0.1", "port": ws_port},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": f"ecg-demo-{os.getpid()}"},
        "state": {"dir": str(state_dir)},
    }
    for d in devices:
        tables[f"devices.{d.device_id}"] = {"patient": d.patient, "token": d.token, "gain": d.gain}
    for name, keys in (sections or {}).items():
        tables.setdefault(name, {}).update(keys)
    return write_toml(path, tables)


def write_toml(path: str | Path, tables: dict[str, dict[str, object]]) -> Path:
    """Simple TOML: ``{"table.sub": {key: value}}`` (the table "" holds the top-level keys)."""
    text = "".join(("" if not name else f"[{name}]\n") + "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items())
                   + "\n" for name, keys in sorted(tables.items(), key=lambda kv: kv[0] != ""))
    path = Path(path)
    path.write_text(text)
    return path


class ChildProcess:
    """A program of this project run as a child, its output in the file ``log``."""

    log: Path
    process: subprocess.Popen | None

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _terminate(self, timeout: float) -> int:
        """SIGTERM if still running, then its exit code; ``subprocess.TimeoutExpired`` if it outlasts ``timeout``."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class GatewayProcess(ChildProcess):
    """``python -m gateway.service.main --config FILE`` with a private notify socket."""

    def __init__(self, config: str | Path, log: str | Path, env: dict[str, str] | None = None,
                 cpus: set[int] | None = None):
        self.config = Path(config)
        self.log = Path(log)
        self.status = ""
        self.watchdog_pings = 0
        self.ready = threading.Event()
        self._notify_path = self.log.with_suffix(".notify")
        self._notify_path.unlink(missing_ok=True)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self._notify_path))
        self._socket.settimeout(0.2)
        self._env = {**os.environ, **(env or {}), "NOTIFY_SOCKET": str(self._notify_path)}
        self._env.pop("JOURNAL_STREAM", None)  # the child logs to our file, not the journal
        self.cpus = cpus  # pin the gateway (all its threads) to these CPUs, e.g. one core for benchmarks
        self.process: subprocess.Popen | None = None
        self._listener: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start the gateway and wait for ``READY=1``; raise with its log if it exits first."""
        self._log_file = open(self.log, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "gateway.service.main", "--config", str(self.config)],
                                        stdout=self._log_file, stderr=subprocess.STDOUT, env=self._env,
                                        preexec_fn=(lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None)
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.process.poll() is not None:
                raise RuntimeError(f"ecg-gateway exited with {self.process.returncode} before it was ready:\n"
                                   + self.log_tail())
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"ecg-gateway was not ready within {timeout} s:\n" + self.log_tail())

    def _listen(self) -> None:
        assert self.process is not None
        while True:
            try:
                data = self._socket.recv(4096).decode(errors="replace")
            except socket.timeout:
                if self.process.poll() is not None:
                    return
                continue
            except OSError:
                return
            for line in data.splitlines():
                key, _, value = line.partition("=")
                if key == "READY" and value == "1":
                    self.ready.set()
                elif key == "STATUS":
                    self.status = value
                elif key == "WATCHDOG" and value == "1":
                    self.watchdog_pings += 1

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.process is None:
            return 0
        try:
            code = self._terminate(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"ecg-gateway did not stop within {timeout} s:\n" + self.log_tail())
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL: the crash case (no goodbye, the MQTT will fires)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        if self._listener is not None:
            self._listener.join(2)
        self._socket.close()
        self._notify_path.unlink(missing_ok=True)
        self._log_file.close()
