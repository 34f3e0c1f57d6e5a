"""``ecg-demo``: the whole system on this machine, start to clean stop.

1. a private Mosquitto on a free loopback port;
2. ``ecg-gateway`` with the shipped model, started like systemd does (waits for ``READY=1``);
3. ``ecg-alerts``, the caregiver's view, subscribed to the patient's alerts;
4. ``ecg-replay`` as the Arduino, streaming the committed MIT-BIH excerpt
   ``tests/fixtures/mitdb/e233`` (frequent PVCs, a ventricular run at 27.7 s)
   ten times faster than real time;
5. ``ecg-web``, the caregivers' console, on a free loopback port with a demo
   account (its address, user and password are printed): the live trace,
   the alerts with their strips, acknowledgements, the analysis page;
6. the alerts are printed as ``ecg-alerts`` receives them; then everything
   stops cleanly (also on Ctrl-C) and the strips are left in ``--strips``.
   With ``--stay`` the system stays up after the excerpt, replaying it again
   at real time (so the console's trace moves at 25 mm/s), until Ctrl-C.

The demo gateway accepts the replayer's 10x rate (``server.limits.rate_factor = 0``);
a real device is held to 1.5 x its declared rate.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .console_process import ConsoleProcess, write_console_config
from .localbroker import LocalBroker, find_mosquitto, free_port
from .replay import REPLAY_GAIN
from .supervise import DemoDevice, GatewayProcess, write_config

DEFAULT_RECORD = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "mitdb" / "e233"


def _relay(stream, prefix: str, lines: list[str]) -> None:
    """Print a child's output lines as they come (and keep them)."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        print(f"{prefix}{line}", flush=True)


DEMO_USER = "demo"


def console_available() -> bool:
    """The console needs the ``web`` extra (aiohttp); the demo runs without it, and says so."""
    import importlib.util

    return importlib.util.find_spec("aiohttp") is not None


def start_console(workdir: Path, mqtt_port: int, patient: str, port: int) -> tuple[ConsoleProcess, str]:
    password = secrets.token_urlsafe(9)
    console = ConsoleProcess(write_console_config(workdir / "web.toml", mqtt_port=mqtt_port, http_port=port,
                                                  state_dir=workdir / "web", sections={"alerting": {"renotify_s": 60.0}}),
                             workdir / "web.log")
    console.add_user(DEMO_USER, password, [patient])
    console.start()
    return console, password


def replay_command(record: Path, ws_port: int, device: DemoDevice, speed: float) -> list[str]:
    """(``--token=`` with "=": a random token may start with "-", which argparse would take for an option.)"""
    return [sys.executable, "-m", "gateway.tools.replay", str(record), "--url", f"ws://127.0.0.1:{ws_port}/v1/stream",
            "--device", device.device_id, f"--token={device.token}", "--speed", str(speed), "--gain", str(REPLAY_GAIN)]


def run_demo(record: Path, speed: float, strips: Path, workdir: Path, model: Path | None = None,
             stay: bool = False, console_port: int = 0) -> int:
    device = DemoDevice("demo-kit", "demo-patient", secrets.token_urlsafe(16), gain=REPLAY_GAIN)
    children: list[subprocess.Popen] = []
    gateway: GatewayProcess | None = None
    console: ConsoleProcess | None = None
    broker = LocalBroker(workdir / "mosquitto")
    try:
        broker.start()
        print(f"[demo] Mosquitto on 127.0.0.1:{broker.port}", flush=True)
        ws_port = free_port()
        config = write_config(workdir / "gateway.toml", ws_port=ws_port, mqtt_port=broker.port,
                              state_dir=workdir / "state", devices=[device],
                              sections={"server.limits": {"rate_factor": 0},
                                        "mqtt": {"trace": True, "beat_stream": True},
                                        **({"model": {"path": str(model.resolve())}} if model else {})})
        gateway = GatewayProcess(config, workdir / "gateway.log")
        print("[demo] starting ecg-gateway (loading the model) ...", flush=True)
        gateway.start()
        print(f"[demo] ecg-gateway ready on ws://127.0.0.1:{ws_port}/v1/stream  ({gateway.status})", flush=True)
        if console_available():
            console, password = start_console(workdir, broker.port, device.patient, console_port)
            print(f"[demo] ecg-web console on {console.url}  (log in as {DEMO_USER!r}, password {password!r})",
                  flush=True)
        else:
            print("[demo] ecg-web console not started: install the web extra (scripts/setup.sh ...,web)", flush=True)
        alerts = subprocess.Popen([sys.executable, "-m", "gateway.tools.alerts_view", "--port", str(broker.port),
                                   "--patient", device.patient, "--save-strips", str(strips)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        children.append(alerts)
        subscribed = alerts.stderr.readline().decode(errors="replace").strip()
        print(f"[demo] {subscribed}", flush=True)
        received: list[str] = []
        relay = threading.Thread(target=_relay, args=(alerts.stdout, "[alert] ", received), daemon=True)
        relay.start()
        print(f"[demo] ecg-replay: streaming {record.name} at {speed:g}x real time ...", flush=True)
        if speed != 1:
            print(f"[demo] (alert times are ECG times: they run {speed:g}x faster than the clock)", flush=True)
        replay = subprocess.run(replay_command(record, ws_port, device, speed), stderr=subprocess.PIPE)
        for line in replay.stderr.decode(errors="replace").splitlines():
            print(f"[demo] {line}", flush=True)
        time.sleep(2.0)  # the last alerts of the record travel through MQTT
        if stay:
            print(f"[demo] staying up (--stay): replaying {record.name} at real time again and again; "
                  f"console on {console.url if console else '(none)'}; Ctrl-C stops everything", flush=True)
            while True:
                subprocess.run(replay_command(record, ws_port, device, 1.0), stderr=subprocess.DEVNULL)
        print(f"[demo] gateway status: {gateway.status}", flush=True)
        print("[demo] stopping: gateway (SIGTERM) ...", flush=True)
        code = gateway.stop()
        gateway = None
        print(f"[demo] ecg-gateway exited with {code}", flush=True)
        if console is not None:
            print(f"[demo] ecg-web exited with {console.stop()}", flush=True)
            console = None
        alerts.terminate()
        relay.join(5)
        print(f"[demo] {len(received)} alerts received; ECG strips in {strips}/", flush=True)
        return 0 if code == 0 and replay.returncode == 0 else 1
    except KeyboardInterrupt:
        print("\n[demo] interrupted; stopping everything", flush=True)
        return 130
    finally:
        if gateway is not None:
            try:
                gateway.stop()
            except Exception as e:  # still stop the rest
                print(f"[demo] {e}", file=sys.stderr)
        if console is not None:
            console.stop()
        for child in children:
            if child.poll() is None:
                child.terminate()
                child.wait(10)
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-demo", description="Run Mosquitto, the gateway, a replayed "
                                     "ECG device, the caregivers' console and alert view on this machine.")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD,
                        help="WFDB record to replay (default: the committed excerpt e233)")
    parser.add_argument("--speed", type=float, default=10.0, help="times real time (default 10)")
    parser.add_argument("--model", type=Path, help="a .tflite model (default: the shipped seed8 model)")
    parser.add_argument("--strips", type=Path, default=Path("ecg-demo-strips"),
                        help="where the alerts' ECG strips are saved (default ./ecg-demo-strips)")
    parser.add_argument("--stay", action="store_true",
                        help="after the excerpt, stay up (replaying it at real time) until Ctrl-C, for the console")
    parser.add_argument("--console-port", type=int, default=0, help="the console's port (default: a free one)")
    args = parser.parse_args(argv)
    if find_mosquitto() is None:
        print("ecg-demo: mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    if not args.record.with_suffix(".hea").is_file():
        print(f"ecg-demo: no WFDB record at {args.record} (.hea missing)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ecg-demo-") as workdir:
        try:
            return run_demo(args.record, args.speed, args.strips, Path(workdir), args.model, args.stay,
                            args.console_port)
        except (RuntimeError, TimeoutError, OSError) as e:
            print(f"ecg-demo: {e}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
