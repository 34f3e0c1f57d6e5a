"""Shared fixtures: a real Mosquitto on a free loopback port, and an MQTT subscriber that records messages."""

from __future__ import annotations

import queue
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from gateway.events import Alert
from gateway.tools.localbroker import LocalBroker, find_mosquitto


def make_alert(n: int, patient: str = "p1") -> Alert:
    """A made-up alert number ``n`` (distinct id, times and heart rate)."""
    return Alert(id=f"alert-{n}", device_id="kit1", patient_id=patient, type="ventricular_run", severity="critical",
                 start=1000.0 + n, time=1001.0 + n, heart_rate=150.0 + n, beat_counts={"N": 3, "V": 4},
                 model_version="seed8-test", message=f"Ventricular run #{n}", strip_png=b"\x89PNG fake")


@pytest.fixture
def mosquitto(tmp_path):
    """A running Mosquitto (``.host``, ``.port``, ``.stop()``, ``.start()``), stopped after the test."""
    if find_mosquitto() is None:
        pytest.skip("the mosquitto binary is not installed (apt-get install mosquitto); MQTT tests need a real broker")
    broker = LocalBroker(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


class Subscriber:
    """A paho client that records every message on ``topics``; ``session`` keeps a broker-side session."""

    def __init__(self, host: str, port: int, topics: list[str], session: bool = False):
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"test-{uuid.uuid4().hex[:8]}", clean_session=not session)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the subscription was not acknowledged"

    def get(self, timeout: float = 10.0, topic: str | None = None) -> mqtt.MQTTMessage:
        """The next message (on ``topic`` if given); fails the test after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no message on {topic or 'any topic'} within {timeout} s")
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if topic is None or msg.topic == topic:
                return msg

    def drain(self, wait: float = 0.3) -> list[mqtt.MQTTMessage]:
        """Every message that arrives within ``wait`` s."""
        time.sleep(wait)
        out = []
        while not self.messages.empty():
            out.append(self.messages.get())
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe(mosquitto):
    """``subscribe(topics, session=False) -> Subscriber`` on the test's broker; closed after the test."""
    made: list[Subscriber] = []

    def make(topics: list[str], session: bool = False) -> Subscriber:
        s = Subscriber(mosquitto.host, mosquitto.port, topics, session)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
