"""ecg-demo runs the whole system and stops it cleanly (here with the committed test model, fast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.tools.localbroker import find_mosquitto

TINY_MODEL = Path(__file__).resolve().parent / "fixtures" / "models" / "tiny.tflite"


@pytest.mark.skipif(find_mosquitto() is None, reason="the mosquitto binary is not installed (apt-get install mosquitto)")
def test_the_demo_starts_everything_streams_the_excerpt_and_stops_cleanly(tmp_path):
    run = subprocess.run([sys.executable, "-m", "gateway.tools.demo", "--model", str(TINY_MODEL), "--speed", "40",
                          "--strips", str(tmp_path / "strips")], capture_output=True, text=True, timeout=180)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    for step in ("Mosquitto on 127.0.0.1:", "ecg-gateway ready on ws://127.0.0.1:", "ecg-alerts: subscribed to",
                 "sent 1200 frames, 43200 samples", "closed with 1000", "ecg-gateway exited with 0",
                 "ecg-web console on http://127.0.0.1:", "(log in as 'demo', password", "ecg-web exited with 0"):
        assert step in out, f"missing {step!r} in:\n{out}"


@pytest.mark.skipif(find_mosquitto() is None, reason="the mosquitto binary is not installed (apt-get install mosquitto)")
def test_with_stay_the_demo_keeps_the_console_up_until_ctrl_c(tmp_path):
    import signal
    import time

    demo = subprocess.Popen([sys.executable, "-m", "gateway.tools.demo", "--model", str(TINY_MODEL), "--speed", "40",
                             "--stay", "--strips", str(tmp_path / "strips")], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    lines = []
    try:
        deadline = time.monotonic() + 120
        while not any("staying up (--stay)" in line for line in lines):
            assert time.monotonic() < deadline and demo.poll() is None, "".join(lines)
            lines.append(demo.stdout.readline())
        time.sleep(3.0)
        assert demo.poll() is None  # still up, replaying
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert "interrupted; stopping everything" in out and demo.returncode == 130, "".join(lines) + out
