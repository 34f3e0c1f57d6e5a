"""Publishing the gateway's events over MQTT, with alerts going through the durable outbox.

:class:`Publisher` owns the topic layout, the outbox bookkeeping and the
availability/discovery messages; the MQTT library sits behind the small
:class:`BrokerClient` interface (:class:`PahoBroker` is the real one), so
the publisher's logic does not depend on paho's threading.  Everything in
the publisher runs on the asyncio loop thread: the client's callbacks,
which arrive on its network thread, are handed over with
``call_soon_threadsafe``.

Delivery of alerts: each alert is committed to the outbox, then published
at QoS 1; its row is removed on the broker's PUBACK.  While the broker is
unreachable the client keeps unacknowledged alerts queued and re-sends them
in order on reconnect; rows left by a previous run (a crash, a power cut)
are published when the gateway first connects.  Statuses and the beat
stream are only sent while connected: the next status replaces a missed one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable, Iterable, Protocol

from .config import MqttConfig
from ..events import Alert, Beat, Status
from .homeassistant import discovery_messages
from .outbox import Outbox
from .paho_client import make_client
from .topics import Topics

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


class BrokerClient(Protocol):
    """What the publisher needs from an MQTT client. Callbacks may come from any thread."""

    def start(self, on_connect: Callable[[], None], on_disconnect: Callable[[], None],
              on_ack: Callable[[int], None]) -> None:
        """Connect in the background and keep reconnecting until :meth:`stop`."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        """Queue a message; return its message id (``on_ack(mid)`` follows the broker's PUBACK)."""

    def stop(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""


class PahoBroker:
    """:class:`BrokerClient` on paho-mqtt 2 (callback API version 2, ``loop_start`` thread)."""

    def __init__(self, config: MqttConfig, client_id: str, will_topic: str, *, clean_session: bool = True):
        self._config = config
        self._client = make_client(config, client_id, clean_session=clean_session)
        self._client.will_set(will_topic, OFFLINE, qos=1, retain=True)

    @property
    def client(self):
        """The paho client, for subscribers that share this connection setup (ecg-alerts)."""
        return self._client

    def start(self, on_connect: Callable[[], None], on_disconnect: Callable[[], None],
              on_ack: Callable[[int], None]) -> None:
        def connected(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                log.error("MQTT broker %s:%d refused the connection: %s",
                          self._config.host, self._config.port, reason_code)
            else:
                on_connect()

        self._client.on_connect = connected
        self._client.on_disconnect = lambda client, userdata, flags, reason_code, properties: on_disconnect()
        self._client.on_publish = lambda client, userdata, mid, reason_code, properties: on_ack(mid)
        self._client.connect_async(self._config.host, self._config.port, keepalive=self._config.keepalive)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        return self._client.publish(topic, payload, qos=qos, retain=retain).mid

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Publisher:
    """Turns gateway events into MQTT messages (topics in :mod:`gateway.service.topics`)."""

    def __init__(self, broker: BrokerClient, outbox: Outbox, topics: Topics, patients: Iterable[str], *,
                 beat_stream: bool = False, discovery_prefix: str | None = "homeassistant",
                 alert_types: Iterable[str] = (), model_version: str = "",
                 loop: asyncio.AbstractEventLoop | None = None):
        self.broker = broker
        self.outbox = outbox
        self.topics = topics
        self.patients = list(patients)
        self.beat_stream = beat_stream
        self.discovery_prefix = discovery_prefix
        self.alert_types = list(alert_types)
        self.model_version = model_version
        self.connected = False
        self.stopping = False
        self.alerts_published = 0
        self._loop = loop or asyncio.get_running_loop()
        self._devices_online: dict[str, int] = {p: 0 for p in self.patients}
        self._inflight: dict[int, int | None] = {}  # QoS 1 message id -> outbox seq (None: not an alert)
        self._handed: set[int] = set()  # outbox seqs given to the client in this run

    def start(self) -> None:
        self.broker.start(lambda: self._from_thread(self._on_connect),
                          lambda: self._from_thread(self._on_disconnect),
                          lambda mid: self._from_thread(self._on_ack, mid))

    def publish_events(self, patient: str, events: Iterable[Alert | Beat | Status]) -> None:
        """Publish what one device's processor emitted."""
        for event in events:
            if isinstance(event, Alert):
                self._alert(patient, event)
            elif isinstance(event, Status):
                self._publish_if_connected(self.topics.status(patient), json.dumps(event.to_dict()).encode(),
                                           qos=1, retain=True)
            elif isinstance(event, Beat) and self.beat_stream:
                self._publish_if_connected(self.topics.beat(patient), json.dumps(event.to_dict()).encode(),
                                           qos=0, retain=False)

    def publish_trace(self, patient: str, payload: bytes) -> None:
        """One live-trace frame (gateway.service.trace): QoS 0, only while connected."""
        self._publish_if_connected(self.topics.trace(patient), payload, qos=0, retain=False)

    def device_online(self, patient: str, online: bool) -> None:
        """A device of ``patient`` connected or went away; the patient is online while any device is."""
        before = self._devices_online.get(patient, 0)
        after = max(before + (1 if online else -1), 0)
        self._devices_online[patient] = after
        if (before > 0) != (after > 0):
            self._publish_if_connected(self.topics.availability(patient), ONLINE if after else OFFLINE,
                                       qos=1, retain=True)

    @property
    def outbox_depth(self) -> int:
        return len(self.outbox)

    async def stop(self, timeout: float) -> int:
        """Publish ``offline`` everywhere, wait (at most ``timeout`` s) for the outbox to drain, disconnect.

        Returns the number of alerts still in the outbox (they are sent on the next start).
        """
        self.stopping = True
        if self.connected:
            for patient in self.patients:
                self._publish(self.topics.availability(patient), OFFLINE, qos=1, retain=True)
            self._publish(self.topics.gateway_availability, OFFLINE, qos=1, retain=True)
        deadline = self._loop.time() + timeout
        while self.connected and (self._inflight or len(self.outbox)) and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(self.broker.stop)
        return len(self.outbox)

    # -- internals, on the loop thread ---------------------------------------------------------

    def _from_thread(self, callback: Callable, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop has closed: the gateway is gone, nothing to update
            pass

    def _alert(self, patient: str, alert: Alert) -> None:
        topic = self.topics.alert(patient)
        payload = json.dumps(alert.to_dict()).encode()
        seq = self.outbox.add(alert.id, topic, payload, alert.time)
        self.alerts_published += 1
        self._send_pending(seq, topic, payload)

    def _send_pending(self, seq: int, topic: str, payload: bytes) -> None:
        mid = self.broker.publish(topic, payload, qos=1, retain=False)
        self._inflight[mid] = seq
        self._handed.add(seq)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        mid = self.broker.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            self._inflight[mid] = None

    def _publish_if_connected(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self.connected:
            self._publish(topic, payload, qos, retain)

    def _on_connect(self) -> None:
        self.connected = True
        log.info("connected to the MQTT broker")
        self._publish(self.topics.gateway_availability, ONLINE, qos=1, retain=True)
        for patient in self.patients:
            if self.discovery_prefix:
                for topic, config in discovery_messages(self.topics, patient, self.alert_types, self.model_version,
                                                        self.discovery_prefix):
                    self._publish(topic, json.dumps(config).encode(), qos=1, retain=True)
            online = self._devices_online.get(patient, 0) > 0
            self._publish(self.topics.availability(patient), ONLINE if online else OFFLINE, qos=1, retain=True)
        backlog = [p for p in self.outbox.pending() if p.seq not in self._handed]
        if backlog:
            log.info("re-publishing %d alerts from the outbox", len(backlog))
        for p in backlog:
            self._send_pending(p.seq, p.topic, p.payload)

    def _on_disconnect(self) -> None:
        if self.connected and not self.stopping:
            log.warning("lost the MQTT broker; alerts wait in the outbox (%d)", len(self.outbox))
        self.connected = False

    def _on_ack(self, mid: int) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is not None:
            self.outbox.remove(seq)
            self._handed.discard(seq)
