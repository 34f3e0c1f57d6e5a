"""Run ``ecg-web`` as a child process (``ecg-demo``, the browser tests, the console benchmark).

The console is started as its own process, as on a Pi (``ecg-web serve``),
with a throw-away configuration on loopback; it is ready when it logs the
address it serves; it stops on SIGTERM.  Accounts are made with
``ecg-web adduser`` itself, the way an administrator makes them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from .supervise import ChildProcess, write_toml

READY = re.compile(r"ecg-web: serving on (https?://[^\s]+)")


def write_console_config(path: str | Path, *, mqtt_port: int, state_dir: str | Path, http_port: int = 0,
                         sections: dict[str, dict[str, object]] | None = None) -> Path:
    tables: dict[str, dict[str, object]] = {
        "": {"state_dir": str(state_dir)},
        "http": {"host": "127.0.0.1", "port": http_port},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": f"ecg-web-{Path(state_dir).name}"},
    }
    for name, keys in (sections or {}).items():
        tables.setdefault(name, {}).update(keys)
    return write_toml(path, tables)


class ConsoleProcess(ChildProcess):
    """``python -m gateway.web.main serve --config FILE``, its log in a file."""

    def __init__(self, config: str | Path, log: str | Path):
        self.config, self.log = Path(config), Path(log)
        self.url = ""
        self.process: subprocess.Popen | None = None

    def add_user(self, name: str, password: str, patients: list[str]) -> None:
        secret = self.log.with_name(f".{name}.password")
        secret.write_text(password)
        secret.chmod(0o600)
        try:
            subprocess.run([sys.executable, "-m", "gateway.web.main", "adduser", "--config", str(self.config), name,
                            *[a for p in patients for a in ("--patient", p)], "--password-file", str(secret)],
                           check=True, capture_output=True, text=True, timeout=60)
        finally:
            secret.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> str:
        """Start and wait until it serves; returns its address."""
        self._log_file = open(self.log, "ab")
        start = self.log.stat().st_size
        self.process = subprocess.Popen([sys.executable, "-m", "gateway.web.main", "serve", "--config",
                                         str(self.config)], stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            found = READY.search(self.log.read_bytes()[start:].decode(errors="replace"))
            if found:
                self.url = found.group(1)
                return self.url
            if self.process.poll() is not None:
                raise RuntimeError(f"ecg-web exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"ecg-web did not serve within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int:
        if self.process is None:
            return 0
        try:
            code = self._terminate(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        self._log_file.close()
        return code
