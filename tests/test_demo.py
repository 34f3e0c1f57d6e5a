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
