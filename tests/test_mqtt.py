"""MQTT publishing against a real Mosquitto: topics, retained state, discovery, and alert delivery via the outbox."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import time

from conftest import make_alert
from gateway.service.config import MqttConfig
from gateway.events import Beat, Status
from gateway.service.mqtt import PahoBroker, Publisher
from gateway.service.outbox import Outbox
from gateway.service.topics import Topics

TOPICS = Topics("ecg", "gw-test")


def make_status(patient: str = "p1", lead: str = "on") -> Status:
    return Status(device_id="kit1", patient_id=patient, time=2000.0, heart_rate=72.0, signal_quality="good",
                  lead=lead, beats=10, beat_counts={"N": 10}, alerts=0, gaps=0, bad_frames=0,
                  model_version="seed8-test")


def make_publisher(broker, tmp_path, **kwargs) -> Publisher:
    config = MqttConfig(host=broker.host, port=broker.port)
    client = PahoBroker(config, client_id=TOPICS.gateway_id, will_topic=TOPICS.gateway_availability)
    client.client.reconnect_delay_set(0.1, 0.5)  # tests restart the broker; do not wait the production back-off
    return Publisher(client, Outbox(tmp_path / "state"), TOPICS, ["p1"], **kwargs)


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_an_alert_is_published_at_qos1_and_leaves_the_outbox_on_puback(mosquitto, subscribe, tmp_path):
    sub = subscribe(["ecg/p1/alert"])

    async def scenario():
        pub = make_publisher(mosquitto, tmp_path)
        pub.start()
        await until(lambda: pub.connected)
        pub.publish_events("p1", [make_alert(1)])
        assert pub.outbox_depth == 1  # written before it was published
        await until(lambda: pub.outbox_depth == 0)
        await pub.stop(5)

    asyncio.run(scenario())
    msg = sub.get(topic="ecg/p1/alert")
    body = json.loads(msg.payload)
    assert msg.qos == 1 and not msg.retain
    assert body["id"] == "alert-1" and body["type"] == "ventricular_run" and body["heart_rate"] == 151.0
    assert base64.b64decode(body["strip_png"]) == make_alert(1).strip_png


def test_an_alert_raised_while_the_broker_is_down_arrives_after_it_restarts(mosquitto, subscribe, tmp_path):
    sub = subscribe(["ecg/p1/alert"], session=True)  # a caregiver's persistent session

    async def scenario():
        pub = make_publisher(mosquitto, tmp_path)
        pub.start()
        await until(lambda: pub.connected)
        mosquitto.stop()
        await until(lambda: not pub.connected)
        pub.publish_events("p1", [make_alert(1), make_alert(2)])
        await asyncio.sleep(0.3)
        assert pub.outbox_depth == 2
        mosquitto.start()
        await until(lambda: pub.outbox_depth == 0, timeout=20)
        await pub.stop(5)

    asyncio.run(scenario())
    ids = [json.loads(sub.get(timeout=20, topic="ecg/p1/alert").payload)["id"] for _ in range(2)]
    assert ids == ["alert-1", "alert-2"]


def test_alerts_left_by_a_previous_run_are_published_in_order_on_start(mosquitto, subscribe, tmp_path):
    box = Outbox(tmp_path / "state")
    for n in (1, 2, 3):
        a = make_alert(n)
        box.add(a.id, TOPICS.alert("p1"), json.dumps(a.to_dict()).encode(), a.time)
    box.close()
    sub = subscribe(["ecg/p1/alert"])

    async def scenario():
        pub = make_publisher(mosquitto, tmp_path)
        pub.start()
        await until(lambda: pub.connected and pub.outbox_depth == 0)
        await pub.stop(5)

    asyncio.run(scenario())
    assert [json.loads(sub.get(topic="ecg/p1/alert").payload)["id"] for _ in range(3)] == \
        ["alert-1", "alert-2", "alert-3"]


def test_status_is_retained_and_availability_follows_the_devices(mosquitto, subscribe, tmp_path):
    async def scenario():
        pub = make_publisher(mosquitto, tmp_path)
        pub.start()
        await until(lambda: pub.connected)
        pub.device_online("p1", True)
        pub.publish_events("p1", [make_status(lead="off")])
        await asyncio.sleep(0.3)
        late = subscribe(["ecg/p1/status", "ecg/p1/availability", TOPICS.gateway_availability])
        got = {m.topic: m for m in late.drain(0.5)}
        assert json.loads(got["ecg/p1/status"].payload)["lead"] == "off"
        assert got["ecg/p1/status"].retain
        assert got["ecg/p1/availability"].payload == b"online"
        assert got[TOPICS.gateway_availability].payload == b"online"
        pub.device_online("p1", False)
        assert late.get(topic="ecg/p1/availability").payload == b"offline"
        await pub.stop(5)
        assert late.get(topic=TOPICS.gateway_availability).payload == b"offline"

    asyncio.run(scenario())


def test_the_gateway_will_marks_it_offline_when_it_dies_without_a_goodbye(mosquitto, subscribe, tmp_path):
    code = (
        "import sys, time\n"
        "from gateway.service.config import MqttConfig\n"
        "from gateway.service.mqtt import PahoBroker\n"
        "b = PahoBroker(MqttConfig(host='127.0.0.1', port=int(sys.argv[1])), 'gw-will', 'ecg/_gateway/gw-will/availability')\n"
        "b.start(lambda: (b.publish('ecg/_gateway/gw-will/availability', b'online', 1, True), print('up', flush=True)),"
        " lambda: None, lambda mid: None)\n"
        "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(mosquitto.port)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"up"
        sub = subscribe(["ecg/_gateway/gw-will/availability"])
        assert sub.get().payload == b"online"
        proc.send_signal(signal.SIGKILL)
        assert sub.get(timeout=10).payload == b"offline"
    finally:
        proc.kill()
        proc.wait()


def test_home_assistant_discovery_describes_each_patient(mosquitto, subscribe, tmp_path):
    async def scenario():
        pub = make_publisher(mosquitto, tmp_path, alert_types=["ventricular_run", "pause"], model_version="m1")
        pub.start()
        await until(lambda: pub.connected)
        await asyncio.sleep(0.3)
        sub = subscribe(["homeassistant/#"])
        configs = {m.topic: json.loads(m.payload) for m in sub.drain(0.5) if m.retain}
        await pub.stop(5)
        return configs

    configs = asyncio.run(scenario())
    hr = configs["homeassistant/sensor/ecg_p1/heart_rate/config"]
    event = configs["homeassistant/event/ecg_p1/arrhythmia/config"]
    lead = configs["homeassistant/binary_sensor/ecg_p1/lead_off/config"]
    assert hr["state_topic"] == "ecg/p1/status" and hr["unit_of_measurement"] == "bpm"
    assert event["state_topic"] == "ecg/p1/alert"
    assert {"ventricular_run", "pause"} <= set(event["event_types"])
    assert lead["device_class"] == "problem"
    for config in (hr, event, lead):
        assert config["device"]["identifiers"] == ["ecg_p1"]
        assert [a["topic"] for a in config["availability"]] == [TOPICS.gateway_availability, "ecg/p1/availability"]
        assert config["availability_mode"] == "all"
    assert len({c["unique_id"] for c in (hr, event, lead)}) == 3


def test_the_beat_stream_is_off_by_default_and_qos0_when_on(mosquitto, subscribe, tmp_path):
    beat = Beat(device_id="kit1", sample=360, time=1.0, label="N", confidence=0.99, rr=0.8)
    sub = subscribe(["ecg/p1/beat"])

    async def scenario(beat_stream: bool, state: str):
        pub = make_publisher(mosquitto, tmp_path / state, beat_stream=beat_stream)
        pub.start()
        await until(lambda: pub.connected)
        pub.publish_events("p1", [beat])
        await asyncio.sleep(0.3)
        await pub.stop(5)

    asyncio.run(scenario(False, "off"))
    assert sub.drain(0.3) == []
    asyncio.run(scenario(True, "on"))
    msg = sub.get(topic="ecg/p1/beat")
    assert msg.qos == 0 and json.loads(msg.payload)["label"] == "N"


def test_trace_frames_go_out_at_qos0_unretained_on_the_trace_topic(mosquitto, subscribe, tmp_path):
    sub = subscribe(["ecg/p1/trace"])

    async def scenario():
        pub = make_publisher(mosquitto, tmp_path / "state")
        pub.start()
        await until(lambda: pub.connected)
        pub.publish_trace("p1", b'{"t": 1.0, "hz": 120, "uv": [1, 2]}')
        await asyncio.sleep(0.3)
        await pub.stop(5)

    asyncio.run(scenario())
    msg = sub.get(topic="ecg/p1/trace")
    assert (msg.qos, msg.retain, json.loads(msg.payload)["uv"]) == (0, False, [1, 2])
