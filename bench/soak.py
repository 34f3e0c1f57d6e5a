"""Soak, fuzz and broker-outage runs of the gateway; each stops by itself and prints its figures.

``python -m bench.soak [--devices 50] [--minutes 10] [--model PATH] [--json]``
    The real gateway process and a private Mosquitto on loopback; ``--devices``
    simulated devices stream MIT-BIH excerpts in real time (36-sample frames
    every 100 ms, scheduled on absolute times, the rate limit on).  Every
    device takes its electrodes off for 4 s in each 30 s (staggered), which
    raises a ``lead_off`` alert and clears it, so alerts keep flowing at a
    known pace whatever the model.  Checked: every sample sent is counted by
    the gateway, no frame is lost or refused, every alert the gateway raised
    reaches the MQTT subscriber once, alert latency p95 <= 50 ms (from the
    arrival of the deciding frame to the subscriber, as in bench.latency),
    and the gateway's RSS, sampled every 10 s, stays flat.  The model is the
    shipped seed8 when present, else the committed test model (the I/O path
    and the per-beat classification cost are the same; its labels are not
    heart-beat classes).
``python -m bench.soak --fuzz [--frames 100000]``
    The seeded malformed-frame campaign of tests/malformed_frames.py (the
    test runs the same 100,000 frames), with its figures.
``python -m bench.soak --outage 30``
    Mosquitto stopped for 30 s while two devices keep raising alerts
    (tests/broker_outage.py; the test stops it for 6 s).

Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from websockets.asyncio.client import connect

from gateway.service.protocol import encode_frame

from .harness import ROOT, SHIPPED_MODEL, devices, looped_counts, memory_mib, running_gateway

TINY_MODEL = ROOT / "tests" / "fixtures" / "models" / "tiny.tflite"
RECORDS = ("e100", "e109", "e118", "e119", "e232", "e233", "e208", "e114")
FRAME = 36
PERIOD = 0.1  # s per frame at 360 Hz
LEAD_OFF_EVERY = 30.0  # s
LEAD_OFF_FOR = 4.0  # s, past the 3 s lead-off debounce
RSS_EVERY = 10.0  # s
LATENCY_TARGET_MS = 50.0


@dataclass
class DeviceResult:
    samples: int = 0
    frames: int = 0
    error_replies: int = 0
    close_code: int | None = None


@dataclass
class SoakFigures:
    devices: int
    seconds: float
    model: str
    samples_sent: int = 0
    samples_counted: int = 0
    lost_frames: int = 0
    bad_frames: int = 0
    error_replies: int = 0
    failed_streams: int = 0
    alerts_raised: int = 0
    alerts_received: int = 0
    alert_duplicates: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    rss_mib: list[float] = field(default_factory=list)
    rss_growth_second_half_mib: float = 0.0
    gateway_lag_max_s: float = 0.0

    def checks(self) -> dict[str, bool]:
        return {
            "no sample lost": self.samples_counted == self.samples_sent and self.lost_frames == 0,
            "no frame refused": self.bad_frames == 0 and self.error_replies == 0 and self.failed_streams == 0,
            "every alert delivered once": self.alerts_raised > 0 and self.alerts_received == self.alerts_raised
            and self.alert_duplicates == 0,
            f"alert latency p95 <= {LATENCY_TARGET_MS:g} ms": self.latency_ms.get("p95", 1e9) <= LATENCY_TARGET_MS,
            "memory flat (second half grows < 5 MiB)": self.rss_growth_second_half_mib < 5.0,
        }


def _status_number(status: str, pattern: str) -> float:
    m = re.search(pattern, status)
    return float(m.group(1)) if m else 0.0


async def _device(url: str, dev, index: int, n: int, seconds: float, t0: float) -> DeviceResult:
    """One device at real time from ``t0`` (+ its stagger): ECG with a 4 s lead-off stretch every 30 s."""
    result = DeviceResult()
    counts, _ = looped_counts(RECORDS[index % len(RECORDS)], seconds + 1, offset=7.3 * index)
    stagger = PERIOD * index / n
    off_phase = LEAD_OFF_EVERY * index / n  # lead-off stretches spread over the 30 s
    frames = int(seconds / PERIOD)
    headers = {"X-ECG-Device": dev.device_id, "X-ECG-Token": dev.token, "X-ECG-Leadoff": "1"}

    async def replies(ws) -> None:
        async for _ in ws:
            result.error_replies += 1

    async with connect(url, additional_headers=headers) as ws:
        reader = asyncio.create_task(replies(ws))
        for seq in range(frames):
            delay = t0 + stagger + (seq + 1) * PERIOD - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lead_off = (seq * PERIOD + off_phase) % LEAD_OFF_EVERY < LEAD_OFF_FOR
            samples = np.full(FRAME, 2048) if lead_off else counts[seq * FRAME:(seq + 1) * FRAME]
            await ws.send(encode_frame(seq, samples, flags=1 if lead_off else 0))
            result.frames += 1
            result.samples += FRAME
        await ws.close()
        result.close_code = ws.close_code
        reader.cancel()
    return result


def run_soak(n: int, seconds: float, model: Path, log=print) -> SoakFigures:
    figures = SoakFigures(n, seconds, model.name)
    devs = devices(n, "soak")
    received: queue.Queue = queue.Queue()
    sections = {"server.limits": {"rate_factor": 1.5}, "alerts.cooldown_s": {"lead_off": 0.0}}
    with running_gateway(devs, model, sections=sections) as (broker, gateway, url):
        pid = gateway.pid()
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="soak-subscriber")
        client.on_connect = lambda c, u, f, rc, p: c.subscribe("ecg/+/alert", qos=1)
        client.on_message = lambda c, u, msg: received.put((time.time(), msg.payload))
        client.connect("127.0.0.1", broker.port)
        client.loop_start()

        async def main() -> list[DeviceResult]:
            t0 = time.time() + 1.0
            jobs = [asyncio.create_task(_device(url, d, i, n, seconds, t0)) for i, d in enumerate(devs)]
            while not all(j.done() for j in jobs):
                await asyncio.wait(jobs, timeout=RSS_EVERY)
                figures.rss_mib.append(round(memory_mib(pid)[0], 1))
                figures.gateway_lag_max_s = max(figures.gateway_lag_max_s,
                                                _status_number(gateway.status, r"(?<!loop )lag ([0-9.]+) s"))
                log(f"  t={time.time() - t0:5.0f} s  RSS {figures.rss_mib[-1]:6.1f} MiB  {gateway.status}")
            return [j.result() for j in jobs]

        results = asyncio.run(main())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not ("0 devices" in gateway.status and "outbox 0" in gateway.status):
            time.sleep(0.2)
        time.sleep(2.5)  # the STATUS line after the last close, and the last alerts' delivery
        status = gateway.status
        client.loop_stop()
        client.disconnect()
    figures.samples_sent = sum(r.samples for r in results)
    figures.error_replies = sum(r.error_replies for r in results)
    figures.failed_streams = sum(r.close_code != 1000 for r in results)
    figures.samples_counted = int(_status_number(status, r"(\d+) samples"))
    figures.lost_frames = int(_status_number(status, r"(\d+) lost frames"))
    figures.bad_frames = int(_status_number(status, r"(\d+) bad frames"))
    figures.alerts_raised = int(_status_number(status, r"(\d+) alerts"))
    latencies, ids = [], []
    while not received.empty():
        at, payload = received.get()
        alert = json.loads(payload)
        ids.append(alert["id"])
        latencies.append((at - alert["time"]) * 1000)
    figures.alerts_received = len(set(ids))
    figures.alert_duplicates = len(ids) - len(set(ids))
    if latencies:
        lat = np.array(latencies)
        figures.latency_ms = {"p50": round(float(np.percentile(lat, 50)), 1),
                              "p95": round(float(np.percentile(lat, 95)), 1), "max": round(float(lat.max()), 1)}
    half = figures.rss_mib[len(figures.rss_mib) // 2:]
    figures.rss_growth_second_half_mib = round(max(half) - half[0], 1) if half else 0.0
    return figures


def soak(args) -> int:
    model = Path(args.model) if args.model else SHIPPED_MODEL if SHIPPED_MODEL.is_file() else TINY_MODEL
    seconds = args.minutes * 60
    print(f"soak: {args.devices} devices x {seconds:g} s real time, model {model.name}, "
          f"load average {os.getloadavg()[0]:.1f}")
    f = run_soak(args.devices, seconds, model, log=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps({**f.__dict__, "checks": f.checks()}))
    else:
        print(f"samples sent {f.samples_sent}, counted by the gateway {f.samples_counted}; lost frames "
              f"{f.lost_frames}, bad frames {f.bad_frames}, error replies {f.error_replies}, failed streams "
              f"{f.failed_streams}")
        print(f"alerts raised {f.alerts_raised}, received {f.alerts_received} (duplicates {f.alert_duplicates}); "
              f"latency p50 {f.latency_ms.get('p50')} ms, p95 {f.latency_ms.get('p95')} ms, "
              f"max {f.latency_ms.get('max')} ms")
        print(f"gateway RSS every {RSS_EVERY:g} s (MiB): {f.rss_mib}; second half grows "
              f"{f.rss_growth_second_half_mib} MiB; gateway lag max {f.gateway_lag_max_s:.2f} s")
        for name, ok in f.checks().items():
            print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(f.checks().values()) else 1


def _test_helpers() -> None:
    """The fuzz and outage scenarios live beside the tests that run their short versions."""
    sys.path.insert(0, str(ROOT / "tests"))


def fuzz(args) -> int:
    _test_helpers()
    from malformed_frames import run_campaign

    print(f"fuzz: {args.frames} malformed frames over {args.connections} connections, seed {args.seed}, "
          f"beside a device streaming 40 s of e233")
    r = run_campaign(args.frames, seed=args.seed, connections=args.connections)
    good_beats, good_alerts = r.good_outcome
    checks = {
        "every frame answered and counted": r.replies == r.frames == r.counted == args.frames,
        "no connection closed early": not r.unexpected_closes,
        "oversized frames closed with 1009": r.huge_closes == [1009] * len(r.huge_closes),
        "absurd handshakes refused with 400": set(r.handshake_statuses) == {400},
        "memory flat (second half grows < 8 MiB)": r.rss_end - r.rss_mid < 8.0,
        "the other device lost nothing": r.good_outcome == r.reference_outcome
        and r.samples_accepted == r.good_samples_sent + r.connections,
    }
    print(f"{r.frames} frames sent in {r.seconds:.1f} s ({r.frames / r.seconds:.0f} frames/s), {r.replies} error "
          f"replies, {r.counted} counted by the server; unexpected closes {r.unexpected_closes}")
    print(f"oversized frames: close codes {r.huge_closes}; absurd handshakes: HTTP {sorted(set(r.handshake_statuses))}"
          f" x {len(r.handshake_statuses)}")
    print(f"RSS of the test process (server + clients): start {r.rss_start:.1f}, half-way {r.rss_mid:.1f}, "
          f"end {r.rss_end:.1f} MiB")
    print(f"the other device: {r.good_samples_sent} samples, {len(good_beats)} beats, alerts "
          f"{[a[:2] for a in good_alerts]}; identical to the undisturbed run: {r.good_outcome == r.reference_outcome}")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


def outage(args) -> int:
    _test_helpers()
    from broker_outage import run_outage
    from gateway.tools.localbroker import LocalBroker

    print(f"outage: Mosquitto stopped for {args.outage:g} s while two devices raise lead-off alerts"
          f"{' and the gateway is killed' if args.crash else ''}")
    with tempfile.TemporaryDirectory(prefix="ecg-outage-") as tmp:
        with LocalBroker(Path(tmp) / "mosquitto") as broker:
            r = run_outage(broker, Path(tmp), args.outage, crash=args.crash)
    checks = {"every alert delivered": len(set(r.ids)) == r.raised, "none twice by id": r.duplicates == 0}
    print(f"alerts raised {r.raised}, received {len(set(r.ids))} distinct ids, duplicates {r.duplicates}; "
          f"outbox peak {r.outbox_peak}; outbox empty {r.drained_after_s:.1f} s after the broker came back")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", help="a .tflite model (default: the shipped seed8, else the test model)")
    parser.add_argument("--json", action="store_true", help="print the soak's figures as one JSON line")
    parser.add_argument("--fuzz", action="store_true", help="run the malformed-frame campaign instead")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--outage", type=float, help="run the broker outage of this many seconds instead")
    parser.add_argument("--crash", action="store_true", help="with --outage: SIGKILL the gateway during it")
    args = parser.parse_args(argv)
    if args.devices < 1 or args.minutes <= 0:
        parser.error("--devices must be >= 1 and --minutes > 0")
    if args.fuzz:
        return fuzz(args)
    if args.outage is not None:
        return outage(args)
    return soak(args)


if __name__ == "__main__":
    raise SystemExit(main())
