"""What the console knows now, kept current from MQTT, and handed to every connected browser.

The MQTT client (paho, callback API 2, its own network thread) subscribes
with a persistent session (fixed client id, ``clean_session = false``), so
alerts and acknowledgements published while the console was down are
queued by the broker and arrive on its next start.  Alerts and
acknowledgements are written to the store *in the MQTT thread*, inside
the message callback: paho acknowledges a QoS 1 message when the callback
returns, so a message the broker considers delivered is already on disk.
Everything else (and the fan-out) is handed to the asyncio loop with
``call_soon_threadsafe``.

Each browser connection is a :class:`Client` with the patients its user may
see; it gets only their messages, and the live trace and beats only of the
patient whose page it shows.  A slow browser loses trace frames (a bounded
queue), never the loop's time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..service.paho_client import make_client
from ..service.topics import Topics
from .config import ConsoleConfig
from .store import Ack, Store

log = logging.getLogger(__name__)

#: A patient whose gateway has said nothing for this long while "online" is shown as stale.
STALE_S = 35.0
#: Recent beat labels kept per patient for a page that opens.
RECENT_BEATS = 40


@dataclass
class PatientState:
    kit: str = "unknown"  # the patient's availability topic
    status: dict | None = None
    status_at: float = 0.0  # when the last status arrived (console clock)
    beats: deque = field(default_factory=lambda: deque(maxlen=RECENT_BEATS))


@dataclass(eq=False)
class Client:
    """One browser connection: what it may see, what it watches, its outgoing queue."""

    user: str
    patients: frozenset[str]
    watching: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    dropped: int = 0

    def offer(self, message: dict) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1


class Live:
    def __init__(self, config: ConsoleConfig, store: Store, *, clock: Callable[[], float] = time.time):
        self.config, self.store, self.clock = config, store, clock
        self.topics = Topics(config.mqtt.prefix, "")
        self.patients: dict[str, PatientState] = {}
        self.gateways: dict[str, str] = {}
        self.clients: set[Client] = set()
        self.connected = False
        self._announced: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = None

    # -- MQTT ------------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        c = self.config.mqtt
        client = make_client(c, self.config.client_id, clean_session=False)  # a persistent session: acks queue
        p = c.prefix
        subscriptions = [(f"{p}/+/{kind}", 1) for kind in ("alert", "status", "availability", "ack")]
        subscriptions += [(f"{p}/+/beat", 0), (f"{p}/+/trace", 0), (f"{p}/_gateway/+/availability", 1)]

        def connected(cl, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                log.error("MQTT broker %s:%d refused the console: %s", c.host, c.port, reason_code)
                return
            cl.subscribe(subscriptions)
            self._hand(self._set_connected, True)

        client.on_connect = connected
        client.on_disconnect = lambda cl, u, f, rc, pr: self._hand(self._set_connected, False)
        client.on_message = lambda cl, u, msg: self.receive(msg.topic, msg.payload)
        client.connect_async(c.host, c.port, keepalive=c.keepalive)
        client.loop_start()
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _hand(self, callback, *args) -> None:
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # the loop has closed: the console is stopping
                pass

    def _set_connected(self, up: bool) -> None:
        if up != self.connected:
            log.info("MQTT broker %s", "connected" if up else "lost")
        self.connected = up

    def receive(self, topic: str, payload: bytes) -> None:
        """One MQTT message (MQTT thread): durable kinds are stored here, the rest go to the loop."""
        bits = topic[len(self.config.mqtt.prefix) + 1:].split("/") if topic.startswith(self.config.mqtt.prefix + "/") \
            else []
        try:
            if len(bits) == 3 and bits[0] == "_gateway" and bits[2] == "availability":
                self._hand(self._gateway, bits[1], payload.decode())
            elif len(bits) == 2:
                patient, kind = bits
                if kind == "alert":
                    alert = json.loads(payload)
                    strip = base64.b64decode(alert["strip_png"]) if alert.get("strip_png") else None
                    if alert.get("patient_id") != patient:
                        raise ValueError(f"patient_id {alert.get('patient_id')!r} on {topic}")
                    if self.store.add_alert(alert, strip, self.clock()):
                        self._hand(self._alert, patient, self.store.alert(alert["id"]))
                elif kind == "ack":
                    d = json.loads(payload)
                    ack = Ack(str(d["alert_id"]), patient, str(d["by"]), float(d["at"]), str(d.get("console", "")))
                    if self.store.add_ack(ack):
                        self._hand(self._acked, ack)
                elif kind in ("status", "availability", "beat", "trace"):
                    self._hand(self._patient_message, patient, kind, payload)
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as e:
            log.warning("ignored a malformed message on %s: %s", topic, e)

    # -- on the loop -----------------------------------------------------------------------------
    def state(self, patient: str) -> PatientState:
        return self.patients.setdefault(patient, PatientState())

    def _gateway(self, gateway: str, availability: str) -> None:
        self.gateways[gateway] = availability
        for patient in self.patients:
            self._broadcast(patient, {"kind": "patient", "patient": patient, "data": self.summary(patient)})

    def _patient_message(self, patient: str, kind: str, payload: bytes) -> None:
        s = self.state(patient)
        try:
            if kind == "availability":
                s.kit = payload.decode()
            elif kind == "status":
                s.status, s.status_at = json.loads(payload), self.clock()
            elif kind == "beat":
                b = json.loads(payload)
                s.beats.append({"label": b.get("label"), "time": b.get("time"), "sample": b.get("sample")})
                self._broadcast(patient, {"kind": "beat", "patient": patient, "beat": s.beats[-1]}, watchers=True)
                return
            elif kind == "trace":
                frame = json.loads(payload)
                self._broadcast(patient, {"kind": "trace", "patient": patient, "frame": frame}, watchers=True)
                return
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("ignored a malformed %s message of %s: %s", kind, patient, e)
            return
        self._broadcast(patient, {"kind": "patient", "patient": patient, "data": self.summary(patient)})

    def _alert(self, patient: str, alert: dict) -> None:
        self.state(patient)
        self._broadcast(patient, {"kind": "alert", "patient": patient, "alert": alert})

    def _acked(self, ack: Ack) -> None:
        self._broadcast(ack.patient, {"kind": "ack", "patient": ack.patient, "ack": ack.to_dict()})

    def _broadcast(self, patient: str, message: dict, watchers: bool = False) -> None:
        for client in self.clients:
            if patient in client.patients and (not watchers or client.watching == patient):
                client.offer(message)

    def summary(self, patient: str) -> dict:
        """Availability (gateway and kit), heart rate, signal quality, lead, active alerts."""
        s = self.state(patient)
        st = s.status or {}
        stale = s.kit == "online" and s.status is not None and self.clock() - s.status_at > STALE_S
        states = set(self.gateways.values())
        gateway = ("unknown" if not states else states.pop() if len(states) == 1
                   else "offline" if stale else "online")
        return {"kit": s.kit, "gateway": gateway, "stale": stale, "monitored": s.kit == "online" and gateway == "online"
                and not stale, "heart_rate": st.get("heart_rate"), "signal_quality": st.get("signal_quality"),
                "lead": st.get("lead"), "active_alerts": (st.get("extra") or {}).get("active_alerts", []),
                "status_time": st.get("time"), "device_id": st.get("device_id")}

    def acknowledge(self, alert: dict, user: str) -> Ack:
        """A caregiver acknowledges: kept here at once, and published for every other console and HA."""
        ack = Ack(alert["id"], alert["patient_id"], user, round(self.clock(), 3), self.config.client_id)
        if self.store.add_ack(ack):
            self._acked(ack)
            if self._client is not None:
                self._client.publish(self.topics.ack(ack.patient), json.dumps(ack.to_dict()).encode(), qos=1)
            return ack
        return self.store.ack(alert["id"])

    def announce_due(self) -> list[dict]:
        """Unacknowledged critical alerts due to be announced again (every ``renotify_s``); sends them."""
        now, every = self.clock(), self.config.alerting.renotify_s
        due = []
        for alert in self.store.unacknowledged_critical():
            last = self._announced.get(alert["id"], float(alert["time"]))
            if now - last >= every:
                self._announced[alert["id"]] = now
                due.append(alert)
                self._broadcast(alert["patient_id"], {"kind": "announce", "patient": alert["patient_id"],
                                                      "alert": {**alert, "ack": None}})
        return due

    async def announcer(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.announce_due()
            except Exception:  # one bad row must not end the re-announcements
                log.exception("re-announcing unacknowledged alerts failed")
