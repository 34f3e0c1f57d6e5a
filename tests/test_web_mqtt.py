"""The console process against a real Mosquitto: nothing lost while it is down, acknowledgements over MQTT."""

from __future__ import annotations

import asyncio
import json
import re
import time

import paho.mqtt.client as mqtt
import pytest

pytest.importorskip("aiohttp", reason="the console needs the web extra (pip install -e .[web])")

from gateway.tools.console_process import ConsoleProcess, write_console_config  # noqa: E402
from gateway.web.store import Store  # noqa: E402
from test_web import alert  # noqa: E402


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def publish(port: int, topic: str, payload: dict) -> None:
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="test-gateway")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def console(tmp_path, mosquitto):
    process = ConsoleProcess(write_console_config(tmp_path / "web.toml", mqtt_port=mosquitto.port,
                                                  state_dir=tmp_path / "web"), tmp_path / "web.log")
    process.add_user("nurse", "correct horse", ["p1"])
    yield process
    process.stop()


def connected(console: ConsoleProcess, times: int = 1) -> bool:
    return console.log.read_text().count("MQTT broker connected") >= times


def test_alerts_and_acks_published_while_the_console_is_down_arrive_when_it_is_back(console, mosquitto, tmp_path):
    console.start()
    wait_for(lambda: connected(console), 10, "the console's first connection (its session)")
    time.sleep(0.5)  # the subscription's acknowledgement
    assert console.stop() == 0
    publish(mosquitto.port, "ecg/p1/alert", alert(1))
    publish(mosquitto.port, "ecg/p1/ack", {"alert_id": "a1", "by": "doctor", "at": 5.0, "console": "other"})
    console.start()
    store = Store(tmp_path / "web" / "console.db")
    found = wait_for(lambda: store.alert("a1"), 10, "the queued alert")
    assert found["message"] == "alert 1" and store.strip("a1")[1].startswith(b"\x89PNG")
    wait_for(lambda: store.ack("a1"), 10, "the queued acknowledgement")
    assert store.ack("a1").by == "doctor"
    store.close()


def test_an_acknowledgement_made_in_the_console_is_published_for_every_other_subscriber(console, mosquitto,
                                                                                        subscribe, tmp_path):
    from aiohttp import ClientSession, CookieJar

    sub = subscribe(["ecg/p1/ack"])
    base = console.start()
    wait_for(lambda: connected(console), 10, "the console's connection")
    time.sleep(0.5)
    publish(mosquitto.port, "ecg/p1/alert", alert(7))
    store = Store(tmp_path / "web" / "console.db")
    wait_for(lambda: store.alert("a7"), 10, "the alert in the console")
    store.close()

    async def acknowledge():
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:  # cookies of 127.0.0.1
            page = await (await http.get(base + "login")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            home = await (await http.post(base + "login", data={"csrf": token, "user": "nurse",
                                                                  "password": "correct horse"})).text()
            csrf = re.search(r'<meta name="csrf" content="([^"]+)"', home).group(1)
            r = await http.post(base + "alert/a7/ack", data={"csrf": csrf}, headers={"Accept": "application/json"})
            return await r.json()

    ack = asyncio.run(acknowledge())
    msg = sub.get(timeout=10, topic="ecg/p1/ack")
    sent = json.loads(msg.payload)
    assert msg.qos == 1 and not msg.retain
    assert sent == ack and (sent["alert_id"], sent["by"], sent["patient"]) == ("a7", "nurse", "p1")
    assert abs(sent["at"] - time.time()) < 10
