"""A private Mosquitto on a free loopback port, for ``ecg-demo``, the benchmarks and the tests.

It runs ``mosquitto -c CONF`` with a generated configuration in a
directory of the caller's choosing: loopback only, anonymous access (no one
else can reach it), and persistence so that a restart keeps the sessions of
subscribers that asked for one -- which is how a caregiver's phone receives
the alerts raised while it, or the broker, was away.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def find_mosquitto() -> str | None:
    """Path of the ``mosquitto`` binary, or None when it is not installed."""
    return shutil.which("mosquitto", path=SEARCH_PATH)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the usual small race is acceptable for local runs)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalBroker:
    """Start/stop/restart a Mosquitto bound to 127.0.0.1:``port`` (restarts keep the port)."""

    host = "127.0.0.1"

    def __init__(self, workdir: str | Path, port: int | None = None):
        binary = find_mosquitto()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.config.write_text(
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"  # as root, Mosquitto would switch to "mosquitto"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n")
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        self._process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self._process.returncode}: {err.strip()} "
                                   f"(log: {self.log})")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not accept connections on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and wait."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> "LocalBroker":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
