"""Alert latency: from the arrival of the samples that complete a decision to the message at a subscriber.

``python -m bench.latency [--model PATH] [--seconds 60] [--background 0]``

A gateway process (the shipped model unless ``--model``), a private
Mosquitto and an MQTT subscriber on ``ecg/+/alert``; one simulated device
per committed MIT-BIH excerpt that raises alerts (PVCs and ventricular runs,
VT and ventricular flutter, bigeminy, atrial fibrillation with runs, pauses)
streams in real time, 36-sample frames every 100 ms, optionally beside
``--background`` devices streaming normal sinus rhythm.

An alert's ``time`` is the arrival time, at the gateway, of the frame whose
samples let the processor decide (the ``now`` its ``feed`` call was given),
so ``received - time`` is the I/O path this benchmark is about: the rest
of that feed call (filter, detector, rendering and classification of the
new beats, the alert policy, the strip PNG), the SQLite outbox commit
(``synchronous=FULL``), the MQTT publish and the broker's delivery.  It
does not include the processor's algorithmic delay -- a beat can only be
classified once 256 samples after its R peak have arrived (the processor's
``delay_s``, printed too) -- nor the device-to-gateway WebSocket hop on
loopback.  Target: p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import time

import numpy as np
import paho.mqtt.client as mqtt

from gateway.tools.replay import replay

from .harness import devices, looped_counts, model_path, running_gateway

#: (excerpt, offset s): excerpts whose reference annotations contain alert-worthy rhythms.
ALERTING = (("e233", 0.0), ("e207", 5.0), ("e119", 0.0), ("e208", 0.0), ("e203", 0.0), ("e232", 0.0),
            ("e105", 0.0))


def subscribe(port: int, received: queue.Queue) -> mqtt.Client:
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("ecg/+/alert", qos=1)
    client.on_message = lambda c, u, msg: received.put((time.time(), msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .tflite model (default: gateway/models/seed8.tflite)")
    parser.add_argument("--seconds", type=float, default=60.0, help="real-time streaming per device")
    parser.add_argument("--background", type=int, default=0, help="extra devices streaming normal rhythm")
    args = parser.parse_args(argv)
    model = model_path(args.model)
    alerting = devices(len(ALERTING), "alert")
    background = devices(args.background, "bg")
    received: queue.Queue = queue.Queue()
    print(f"model {model.name}; {len(alerting)} alerting devices + {len(background)} background devices, "
          f"{args.seconds:g} s real time; load average {os.getloadavg()[0]:.1f}")
    with running_gateway(alerting + background, model) as (broker, gateway, url):
        client = subscribe(broker.port, received)

        async def drive():
            jobs = []
            for dev, (record, offset) in zip(alerting, ALERTING):
                counts, rate = looped_counts(record, args.seconds, offset)
                jobs.append(replay(url, dev.device_id, dev.token, counts, rate))
            for i, dev in enumerate(background):
                counts, rate = looped_counts("e100", args.seconds, offset=3.1 * i)
                jobs.append(replay(url, dev.device_id, dev.token, counts, rate))
            return await asyncio.gather(*jobs)

        results = asyncio.run(drive())
        time.sleep(2.0)
        client.loop_stop()
        client.disconnect()
    alerts = []
    while not received.empty():
        at, payload = received.get()
        alert = json.loads(payload)
        alerts.append((at - alert["time"], alert))
    failed = sum(r.close_code != 1000 or r.errors for r in results)
    if not alerts:
        print("no alerts were raised; nothing to measure")
        return 1
    latency_ms = np.array([lat for lat, _ in alerts]) * 1000
    kinds = sorted({a["type"] for _, a in alerts})
    print(f"{len(alerts)} alerts ({', '.join(kinds)}); {failed} device streams failed")
    print(f"latency, arrival of the deciding frame -> subscriber: p50 {np.percentile(latency_ms, 50):.1f} ms, "
          f"p95 {np.percentile(latency_ms, 95):.1f} ms, max {latency_ms.max():.1f} ms (target p95 <= 50 ms)")
    with_strip = [lat * 1000 for lat, a in alerts if a.get("strip_png")]
    if with_strip:
        print(f"  alerts with a strip PNG: {len(with_strip)}, p95 {np.percentile(with_strip, 95):.1f} ms")
    print(f"plus the processor's algorithmic delay (beat window after the R peak, filters, lead check): "
          f"{_processor_delay():.2f} s at 360 Hz")
    return 0 if failed == 0 else 1


def _processor_delay() -> float:
    from gateway.device import DeviceStream

    from gateway.processor import ProcessorConfig, StreamProcessor

    class _NoModel:
        labels, scheme, version = ("N",), "none", "none"

    return StreamProcessor(DeviceStream("d", "p", 360), _NoModel(), ProcessorConfig(), 0.0).delay_s


if __name__ == "__main__":
    raise SystemExit(main())
