"""The console (ecg-web): live-trace delay, alert publish-to-screen latency, resident memory vs patients.

``python -m bench.console [--model PATH] [--seconds 30] [--alerts 20] [--patients 10,50]``

A private Mosquitto, a real ``ecg-gateway`` (shipped model, ``mqtt.trace``
and the beat stream on), a real ``ecg-web`` process and headless Chromium
(Selenium) logged in on the patient's page, while ``ecg-replay``'s
``replay`` streams the MIT-BIH excerpt e233 in real time.

* **Trace delay**: for every trace frame the page draws, console.js notes
  ``Date.now()`` minus the time of the frame's last sample (the gateway's
  ``start_time + sample / 360``, i.e. the schedule of the replayed
  electrodes, on the same clock).  Replay sends a 100 ms frame at the time
  of its first sample, a real kit after its last: a kit adds up to 0.1 s,
  which is added in the "kit bound" column.  Target: <= 1.5 s.
* **Alert latency**: ``--alerts`` alerts (with a real-size strip PNG) are
  published on the patient's alert topic at QoS 1 as the gateway does;
  latency is the moment console.js put the alert into the page
  (``Date.now()``) minus the moment just before ``publish``.  The gateway's
  own alerts of the excerpt are reported too, from their ``time`` (when the
  gateway raised them; this adds its outbox commit).  Target: <= 1 s.
* **Memory**: the console's VmRSS (and peak VmHWM) with the one real
  patient, then with ``--patients`` more simulated ones publishing what a
  gateway publishes (trace 4 frames/s, a beat per 0.8 s, a status per 10 s),
  all assigned to the logged-in user, the browser on the overview.  Target:
  <= 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from gateway.tools.console_process import ConsoleProcess, write_console_config
from gateway.tools.replay import replay

from .harness import devices, looped_counts, memory_mib, model_path, running_gateway

PASSWORD = "bench-password"


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    v = np.asarray(values)
    return (f"n {v.size}, median {np.median(v):.3f} s, p95 {np.percentile(v, 95):.3f} s, max {v.max():.3f} s")


def strip_png() -> str:
    from PIL import Image, ImageDraw

    image = Image.new("L", (600, 120), 255)
    draw = ImageDraw.Draw(image)
    x = np.arange(600)
    y = 60 - 40 * np.exp(-((x % 150) - 75) ** 2 / 20.0)
    draw.line(list(zip(x.tolist(), y.tolist())), fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def synthetic_alert(patient: str, n: int, png: str) -> dict:
    now = time.time()
    return {"id": f"bench-{uuid.uuid4()}", "device_id": "bench", "patient_id": patient, "type": "pause",
            "severity": "high", "state": "raised", "start": now - 1, "time": now, "heart_rate": 60.0,
            "beat_counts": {"N": 5}, "model_version": "bench", "message": f"Benchmark alert {n}.",
            "signal_quality": 1.0, "strip_png": png}


class Simulated:
    """``n`` patients' gateway traffic on the broker (a thread), until :meth:`stop`."""

    def __init__(self, port: int, patients: list[str]):
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sim")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.patients = patients
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for p in self.patients:
            self.client.publish(f"ecg/{p}/availability", b"online", qos=1, retain=True)
        tick = 0
        t0 = time.time()
        while not self._stop.wait(0.25):
            tick += 1
            now = time.time()
            wave = (300 * np.sin(np.arange(30) / 4.0)).astype(int).tolist()
            for p in self.patients:
                self.client.publish(f"ecg/{p}/trace", json.dumps({"device_id": p, "t": now - 0.25, "hz": 120,
                                                                  "uv": wave}), qos=0)
                if tick % 3 == 0:
                    self.client.publish(f"ecg/{p}/beat", json.dumps({"label": "N", "time": now, "sample": tick}), qos=0)
                if tick % 40 == 1:
                    self.client.publish(f"ecg/{p}/status", json.dumps(
                        {"device_id": p, "patient_id": p, "time": now, "heart_rate": 72.0, "signal_quality": "good",
                         "lead": "on", "beats": int(now - t0), "extra": {"active_alerts": []}}), qos=1, retain=True)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def log_in(driver, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .tflite model (default: gateway/models/seed8.tflite)")
    parser.add_argument("--seconds", type=float, default=30.0, help="real-time streaming of the real patient")
    parser.add_argument("--alerts", type=int, default=20, help="published alerts to time")
    parser.add_argument("--patients", default="10,50", help="simulated patients for the memory figures")
    args = parser.parse_args(argv)
    model = model_path(args.model)
    (dev,) = devices(1, "p")
    extra = [int(n) for n in args.patients.split(",") if n]
    simulated = [f"sim{i:03d}" for i in range(max(extra, default=0))]
    print(f"model {model.name}; {args.seconds:g} s real time; load average {os.getloadavg()[0]:.1f}")
    with running_gateway([dev], model, sections={"mqtt": {"trace": True, "beat_stream": True,
                                                          "ha_discovery": False}}) as (broker, gateway, url), \
            tempfile.TemporaryDirectory(prefix="ecg-bench-web-") as tmp:
        console = ConsoleProcess(write_console_config(Path(tmp) / "web.toml", mqtt_port=broker.port,
                                                      state_dir=Path(tmp) / "web"), Path(tmp) / "web.log")
        console.add_user("bench", PASSWORD, [dev.patient, *simulated])
        base = console.start()
        driver = browser()
        try:
            log_in(driver, base, "bench")
            driver.get(base + f"patient/{dev.patient}")
            time.sleep(1.0)
            gateway_alerts: list[dict] = []
            publisher = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="bench-alerts")
            publisher.on_message = lambda c, u, m: gateway_alerts.append(json.loads(m.payload))
            publisher.connect("127.0.0.1", broker.port)
            publisher.subscribe(f"ecg/{dev.patient}/alert", qos=1)
            publisher.loop_start()
            counts, rate = looped_counts("e233", args.seconds)
            started = time.time()
            streaming = threading.Thread(target=lambda: asyncio.run(replay(url, dev.device_id, dev.token, counts,
                                                                          rate)), daemon=True)
            streaming.start()
            time.sleep(min(5.0, args.seconds / 3))
            png, published = strip_png(), {}
            for n in range(args.alerts):
                alert = synthetic_alert(dev.patient, n, png)
                published[alert["id"]] = time.time()
                publisher.publish(f"ecg/{dev.patient}/alert", json.dumps(alert), qos=1)
                time.sleep(0.5)
            streaming.join(args.seconds + 30)
            time.sleep(2.0)
            probe = driver.execute_script("return window.ecgConsole")
            rss_one, peak_one = memory_mib(console.pid())
            publisher.loop_stop()
            publisher.disconnect()
            delays = [d for d in probe["delays"]][8:]  # after the first two seconds of frames
            seen = probe["seen"]
            synthetic = [seen[i] - t for i, t in published.items() if i in seen]
            missing = [i for i in published if i not in seen]
            gateway_own = [a for a in gateway_alerts if not a["id"].startswith("bench-")]
            real = [seen[a["id"]] - a["time"] for a in gateway_own if a["id"] in seen]
            print(f"trace: {probe['frames']} frames drawn; delay electrode -> screen: {percentiles(delays)}; "
                  f"kit bound (+0.1 s): p95 {np.percentile(delays, 95) + 0.1:.3f} s" if delays else "trace: no frames")
            print(f"alerts published -> visible: {percentiles(synthetic)}; not seen: {len(missing)}")
            print(f"the gateway's own alerts, raised -> visible: {percentiles(real)} (of {len(gateway_own)})")
            print(f"console memory, 1 real patient + browser: VmRSS {rss_one:.1f} MiB (peak {peak_one:.1f} MiB)")
            driver.get(base)
            for n in extra:
                sim = Simulated(broker.port, simulated[:n])
                time.sleep(20.0)
                rss, peak = memory_mib(console.pid())
                sim.stop()
                print(f"console memory, {n} simulated patients + 1 real + browser on the overview: "
                      f"VmRSS {rss:.1f} MiB (peak {peak:.1f} MiB)")
        finally:
            driver.quit()
            console.stop()
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(started))} UTC")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
