"""A broker outage (and optionally a gateway crash) while two devices keep raising alerts.

Shared by ``tests/test_reliability_broker_faults.py`` (a 6 s outage) and
``python -m bench.soak --outage 30`` (the 30 s version, figures printed).

The real ``ecg-gateway`` process (the committed test model) runs against a
real Mosquitto.  Two devices stream continuously at twice real time,
cycling 1 s of lead-off frames and 2 s of ECG; with the lead-off debounce
at 0.5 s and no cool-down, every cycle raises a ``lead_off`` alert and
clears it, so alerts keep coming before, during and after the outage.  A
caregiver's subscriber keeps a persistent session.  The gateway's own
alert counter (its STATUS line) says how many alerts were raised; every one
must arrive, none twice by id.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

from conftest import Subscriber
from gateway.tools.localbroker import LocalBroker, free_port
from gateway.service.protocol import encode_frame
from gateway.tools.replay import REPLAY_GAIN, record_counts
from gateway.tools.supervise import DemoDevice, GatewayProcess, write_config

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = ROOT / "tests" / "fixtures" / "models" / "tiny.tflite"
DEVICES = (DemoDevice("kit1", "p1", "token-one", gain=REPLAY_GAIN), DemoDevice("kit2", "p2", "token-two",
                                                                                gain=REPLAY_GAIN))
FRAME = 36
SPEED = 2.0  # frames go out at twice real time


@dataclass
class OutageResult:
    outage_s: float = 0.0
    raised: int = 0  # the gateway's alert counter (summed over restarts)
    ids: list[str] = field(default_factory=list)  # alert ids as the subscriber received them
    outbox_peak: int = 0
    drained_after_s: float = 0.0  # from the broker's restart to an empty outbox
    frames_sent: int = 0

    @property
    def duplicates(self) -> int:
        return len(self.ids) - len(set(self.ids))


def _status_number(status: str, pattern: str) -> int:
    m = re.search(pattern, status)
    return int(m.group(1)) if m else 0


class Devices:
    """Two devices cycling lead-off and ECG in a thread of their own until stopped."""

    def __init__(self, url: str):
        self.url = url
        self.stop = threading.Event()
        self.frames = 0
        counts, _ = record_counts(str(ROOT / "tests" / "fixtures" / "mitdb" / "e100"), duration=20,
                                  gain=REPLAY_GAIN)
        self.ecg = counts
        self._thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)

    def start(self) -> "Devices":
        self._thread.start()
        return self

    def join(self) -> None:
        self.stop.set()
        self._thread.join(30)

    async def _all(self) -> None:
        await asyncio.gather(*(self._one(d) for d in DEVICES))

    async def _one(self, device: DemoDevice) -> None:
        headers = {"X-ECG-Device": device.device_id, "X-ECG-Token": device.token}
        async with connect(f"{self.url}?rate=360&leadoff=1", additional_headers=headers) as ws:
            seq, pos = 0, 0
            while not self.stop.is_set():
                plan = [(np.full(FRAME, 2048), 1)] * 10
                for _ in range(20):
                    plan.append((np.resize(np.roll(self.ecg, -pos), FRAME), 0))
                    pos = (pos + FRAME) % self.ecg.size
                for samples, flags in plan:
                    await ws.send(encode_frame(seq, samples, flags=flags))
                    seq += 1
                    self.frames += 1
                    await asyncio.sleep(FRAME / 360 / SPEED)


def _wait(predicate, timeout: float, what: str, gateway: GatewayProcess) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; gateway status: {gateway.status!r}\n"
                                 + gateway.log_tail(20))
        time.sleep(0.05)


def run_outage(broker: LocalBroker, workdir: Path, outage_s: float, *, crash: bool = False,
               before_s: float = 2.0, after_s: float = 2.0) -> OutageResult:
    """Alerts before, during and after ``outage_s`` of broker downtime; ``crash``: SIGKILL the gateway at
    the end of the outage (devices stopped first) and start a new one on the same state directory."""
    result = OutageResult(outage_s=outage_s)
    state = workdir / "state"

    def start_gateway(n: int) -> tuple[GatewayProcess, str]:
        port = free_port()
        config = write_config(workdir / f"gateway{n}.toml", ws_port=port, mqtt_port=broker.port, state_dir=state,
                              devices=list(DEVICES),
                              sections={"mqtt": {"client_id": "gw-outage", "keepalive": 5, "ha_discovery": False},
                                        "server.limits": {"rate_factor": 0},
                                        "model": {"path": str(TINY_MODEL)},
                                        "alerts": {"lead_off_s": 0.5}, "alerts.cooldown_s": {"lead_off": 0.0}})
        gateway = GatewayProcess(config, workdir / f"gateway{n}.log")
        gateway.start()
        return gateway, f"ws://127.0.0.1:{port}/v1/stream"

    subscriber = Subscriber(broker.host, broker.port, ["ecg/+/alert"], session=True)
    gateway, url = start_gateway(0)
    try:
        _wait(lambda: "MQTT up" in gateway.status, 20, "the gateway to reach the broker", gateway)
        devices = Devices(url).start()
        time.sleep(before_s)
        broker.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < outage_s:
            result.outbox_peak = max(result.outbox_peak, _status_number(gateway.status, r"outbox (\d+)"))
            time.sleep(0.2)
        if crash:
            devices.join()
            time.sleep(1.5)  # a STATUS line with the final count (sent every second)
            result.raised += _status_number(gateway.status, r"(\d+) alerts")
            result.outbox_peak = max(result.outbox_peak, _status_number(gateway.status, r"outbox (\d+)"))
            gateway.kill()
        broker.start()
        up_at = time.monotonic()
        if crash:
            gateway, url = start_gateway(1)
        else:
            time.sleep(after_s)
            devices.join()
        _wait(lambda: "outbox 0" in gateway.status and "MQTT up" in gateway.status, 60 + outage_s,
              "the outbox to drain", gateway)
        result.drained_after_s = time.monotonic() - up_at
        time.sleep(1.5)
        result.raised += _status_number(gateway.status, r"(\d+) alerts")
        result.frames_sent = devices.frames
        deadline = time.monotonic() + 20
        while len(set(result.ids)) < result.raised and time.monotonic() < deadline:
            result.ids += [json.loads(m.payload)["id"] for m in subscriber.drain(0.5)]
        result.ids += [json.loads(m.payload)["id"] for m in subscriber.drain(1.0)]  # late duplicates, if any
    finally:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.stop()
        subscriber.close()
    return result
