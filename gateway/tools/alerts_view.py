"""``ecg-alerts``: the caregiver's side -- subscribe to alerts and show each one once.

Alerts are published at QoS 1 and may arrive twice (a re-publish from the
outbox after a lost acknowledgement); every alert has a unique ``id``, so
this tool shows each id once.  With ``--client-id`` the broker keeps a
session for it, and alerts raised while it was not running are delivered
when it reconnects.  ``--save-strips DIR`` writes each alert's ECG strip
as a PNG.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import re
import ssl
import sys
import time
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import TextIO

#: How many alert ids are remembered for de-duplication.
SEEN_IDS = 10_000


class Deduplicator:
    """Remembers the last :data:`SEEN_IDS` alert ids."""

    def __init__(self, size: int = SEEN_IDS):
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, alert_id: str) -> bool:
        if alert_id in self._seen:
            return False
        self._seen[alert_id] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


def describe(alert: dict) -> str:
    """One readable line: time, patient, severity, type, heart rate, message."""
    when = datetime.fromtimestamp(alert.get("start") or alert.get("time") or 0).strftime("%Y-%m-%d %H:%M:%S")
    kind = str(alert.get("type", "?")).replace("_", " ")
    state = " (cleared)" if alert.get("state") == "cleared" else ""
    hr = alert.get("heart_rate")
    rate = f"HR {hr:.0f}/min" if isinstance(hr, (int, float)) else "HR --"
    return (f"[{when}] patient {alert.get('patient_id', '?')}  {str(alert.get('severity', '?')).upper():8s} "
            f"{kind}{state}  {rate}  {alert.get('message', '')}")


def save_strip(alert: dict, directory: Path) -> Path | None:
    """Write the alert's strip PNG (if it has one) as ``<patient>_<time>_<type>_<id>.png``."""
    data = alert.get("strip_png")
    if not data:
        return None
    stamp = datetime.fromtimestamp(alert.get("start") or 0).strftime("%Y%m%d-%H%M%S")
    name = "_".join(re.sub(r"[^A-Za-z0-9-]", "-", str(part)) for part in
                    (alert.get("patient_id"), stamp, alert.get("type"), str(alert.get("id"))[:8]))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    path.write_bytes(base64.b64decode(data))
    return path


def watch(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Subscribe and print alerts until ``--count`` distinct alerts or ``--timeout``; returns the exit code."""
    import paho.mqtt.client as mqtt

    messages: queue.Queue = queue.Queue()
    topic = f"{args.prefix}/{args.patient or '+'}/alert"
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id or "",
                         clean_session=not args.client_id)
    if args.username:
        client.username_pw_set(args.username, args.password)
    if args.ca:
        client.tls_set(ca_certs=args.ca, cert_reqs=ssl.CERT_REQUIRED)
    client.on_connect = lambda c, u, flags, rc, props: c.subscribe(topic, qos=1) if not rc.is_failure else \
        messages.put(("refused", str(rc)))
    client.on_subscribe = lambda c, u, mid, rcs, props: messages.put(("subscribed", topic))
    client.on_message = lambda c, u, msg: messages.put(("alert", msg.payload))
    client.reconnect_delay_set(1, 10)
    client.connect_async(args.host, args.port, keepalive=30)
    client.loop_start()
    dedup = Deduplicator()
    shown = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while args.count is None or shown < args.count:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                break
            try:
                kind, payload = messages.get(timeout=wait)
            except queue.Empty:
                break
            if kind == "refused":
                print(f"ecg-alerts: the broker refused the connection: {payload}", file=sys.stderr)
                return 2
            if kind == "subscribed":
                print(f"ecg-alerts: subscribed to {payload} on {args.host}:{args.port}", file=sys.stderr)
                continue
            try:
                alert = json.loads(payload)
                alert_id = alert["id"]
            except (ValueError, KeyError, TypeError):
                print(f"ecg-alerts: ignoring a message that is not an alert: {payload[:80]!r}", file=sys.stderr)
                continue
            if not dedup.first_time(alert_id):
                continue
            shown += 1
            strip = save_strip(alert, Path(args.save_strips)) if args.save_strips else None
            if args.json:
                print(json.dumps({**alert, "strip_png": str(strip) if strip else None}), file=out, flush=True)
            else:
                print(describe(alert) + (f"  strip: {strip}" if strip else ""), file=out, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
    return 0 if args.count is None or shown >= args.count else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-alerts", description="Show ECG alerts from the gateway's MQTT "
                                     "broker, each once (de-duplicated by id).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--prefix", default="ecg", help="topic prefix (the gateway's mqtt.prefix)")
    parser.add_argument("--patient", help="only this patient (default: every patient)")
    parser.add_argument("--save-strips", metavar="DIR", help="save each alert's ECG strip as a PNG here")
    parser.add_argument("--count", type=int, help="exit after this many alerts (exit 1 if fewer by --timeout)")
    parser.add_argument("--timeout", type=float, help="exit after this many seconds")
    parser.add_argument("--json", action="store_true", help="print each alert as one JSON line")
    parser.add_argument("--client-id", help="a fixed client id: the broker keeps alerts for it while it is away")
    parser.add_argument("--username")
    parser.add_argument("--password", default=os.environ.get("ECG_MQTT_PASSWORD"),
                        help="broker password (default: $ECG_MQTT_PASSWORD, which keeps it out of ps)")
    parser.add_argument("--ca", help="CA certificate file: connect with TLS")
    return watch(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
