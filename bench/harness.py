"""Shared set-up of the I/O benchmarks: a private Mosquitto, the real gateway process, simulated devices.

The gateway runs as its own process, started the way systemd starts it
(:class:`gateway.tools.supervise.GatewayProcess`), optionally pinned to one CPU,
so its CPU time and memory are its own; the simulated devices and the MQTT
subscriber run in the benchmark's process.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from gateway.tools.localbroker import LocalBroker, free_port
from gateway.tools.replay import REPLAY_GAIN, record_counts
from gateway.tools.supervise import DemoDevice, GatewayProcess, write_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "mitdb"
SHIPPED_MODEL = ROOT / "gateway" / "models" / "seed8.tflite"


def model_path(requested: str | None) -> Path:
    """The model to benchmark: ``--model``, else the shipped seed8 model."""
    path = Path(requested) if requested else SHIPPED_MODEL
    if not path.is_file():
        raise SystemExit(f"no model at {path}; pass --model PATH (a converted seed8 .tflite)")
    return path


def devices(n: int, prefix: str = "dev") -> list[DemoDevice]:
    return [DemoDevice(f"{prefix}{i:03d}", f"{prefix}{i:03d}", f"token-{i}", gain=REPLAY_GAIN) for i in range(n)]


def looped_counts(record: str, seconds: float, offset: float = 0.0) -> tuple[np.ndarray, int]:
    """A fixture excerpt as ADC counts, started ``offset`` s in and repeated to last ``seconds``."""
    counts, rate = record_counts(str(FIXTURES / record), gain=REPLAY_GAIN)
    start = int(offset * rate) % counts.size
    n = int(seconds * rate)
    return np.resize(np.roll(counts, -start), n), rate


@contextmanager
def running_gateway(devs: list[DemoDevice], model: Path, *, threads: int = 1, cpus: set[int] | None = None,
                    sections: dict | None = None) -> Iterator[tuple[LocalBroker, GatewayProcess, str]]:
    """Broker + gateway for ``devs``; yields (broker, gateway, stream URL) and stops both."""
    with tempfile.TemporaryDirectory(prefix="ecg-bench-") as tmp:
        work = Path(tmp)
        with LocalBroker(work / "mosquitto") as broker:
            port = free_port()
            config = write_config(work / "gateway.toml", ws_port=port, mqtt_port=broker.port,
                                  state_dir=work / "state", devices=devs,
                                  sections={"server": {"processing_threads": threads},
                                            "server.limits": {"rate_factor": 0},
                                            "mqtt": {"ha_discovery": False},
                                            "logging": {"level": "WARNING"},
                                            "model": {"path": str(model.resolve())}, **(sections or {})})
            gateway = GatewayProcess(config, work / "gateway.log", cpus=cpus)
            gateway.start()
            try:
                yield broker, gateway, f"ws://127.0.0.1:{port}/v1/stream"
            finally:
                gateway.stop(timeout=60)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def parse_status(status: str) -> dict[str, float]:
    """Numbers of the gateway's STATUS line (see gateway.service.main.Gateway.status_line)."""
    patterns = {"devices": r"(\d+) devices", "beats": r"(\d+) beats", "alerts": r"(\d+) alerts",
                "outbox": r"outbox (\d+)", "lag": r"(?<!loop )lag ([0-9.]+) s", "loop_lag_ms": r"loop lag ([0-9.]+) ms"}
    out = {}
    for key, pattern in patterns.items():
        m = re.search(pattern, status)
        if m:
            out[key] = float(m.group(1))
    return out
