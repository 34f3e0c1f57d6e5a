"""Load: the soak benchmark's short version (10 devices for 30 s at real time) loses nothing and leaks nothing.

``python -m bench.soak`` (50 devices for 10 minutes by default) is the real
run; this runs the same code, as a user would, and reads its JSON figures.
The latency target (p95 <= 50 ms) is the benchmark's verdict, not asserted
here: timing on a shared CI machine is not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.tools.localbroker import find_mosquitto

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(find_mosquitto() is None, reason="the mosquitto binary is not installed")
def test_ten_devices_for_thirty_seconds_lose_no_sample_or_alert_and_memory_stays_flat():
    run = subprocess.run([sys.executable, "-m", "bench.soak", "--devices", "10", "--minutes", "0.5", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.stdout.strip(), run.stderr[-3000:]
    figures = json.loads(run.stdout.splitlines()[-1])
    assert figures["samples_sent"] == 10 * 300 * 36  # 30 s of 36-sample frames every 100 ms, per device
    assert figures["samples_counted"] == figures["samples_sent"]
    assert figures["alerts_raised"] >= 10  # each device's lead-off stretch raises and clears
    untimed = {name: ok for name, ok in figures["checks"].items() if "latency" not in name}
    assert len(untimed) == 4 and all(untimed.values()), figures
    assert figures["latency_ms"]["p95"] > 0 and len(figures["rss_mib"]) >= 3
