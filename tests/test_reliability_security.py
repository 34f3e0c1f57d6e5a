"""Security: device authentication, stream isolation, and the gateway on an authenticated TLS broker.

Shown elsewhere, not repeated here: a wrong or missing token, an unknown
device, an oversized frame (1009), too many bad frames (4003) and a device
over its rate (4029) in test_server.py; the example ACLs and the TLS
listener with paho clients in test_deploy.py.  This module runs the real
``ecg-gateway`` with DEBUG logging against the example Mosquitto
configuration (password file, ACLs, TLS), with device tokens and the broker
password set, and then searches its whole log for every secret.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.tools.localbroker import free_port
from gateway.service.protocol import encode_frame
from gateway.tools.supervise import DemoDevice, GatewayProcess, write_config
from test_deploy import USERS, Broker, Client, needs_mosquitto
from test_e2e import TINY_MODEL

OWN = DemoDevice("kit-a", "p0001", "tok-A-7f3e9c1b5d")  # worn by this gateway's patient
OTHER = DemoDevice("kit-b", "p0002", "tok-B-2a8d4e6f0c")  # configured for a patient the broker does not let it write
WRONG_TOKEN = "tok-guess-91c3b7"
GATEWAY_USER = "gw-home-p0001"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """The example Mosquitto (users, ACLs, TLS) and a gateway that logs at DEBUG, on TLS with a password."""
    work = tmp_path_factory.mktemp("secured")
    broker = Broker(work / "mosquitto")
    port = free_port()
    config = write_config(work / "gateway.toml", ws_port=port, mqtt_port=broker.tls_port, state_dir=work / "state",
                          devices=[OWN, OTHER],
                          sections={"mqtt": {"client_id": GATEWAY_USER, "username": GATEWAY_USER,
                                             "password": USERS[GATEWAY_USER], "keepalive": 5},
                                    "mqtt.tls": {"ca": str(broker.ca)},
                                    "server.limits": {"rate_factor": 0},
                                    "alerts": {"lead_off_s": 0.5},
                                    "logging": {"level": "DEBUG"},
                                    "model": {"path": str(TINY_MODEL)}})
    gateway = GatewayProcess(config, work / "gateway.log")
    gateway.start()
    try:
        deadline = time.monotonic() + 30
        while "MQTT up" not in gateway.status:
            assert time.monotonic() < deadline, "the gateway did not reach the TLS broker:\n" + gateway.log_tail()
            time.sleep(0.05)
        yield broker, gateway, f"ws://127.0.0.1:{port}/v1/stream"
    finally:
        gateway.stop()
        broker.stop()


async def lead_off(url: str, headers: dict[str, str] | None = None, query: str = "") -> None:
    """Two seconds of lead-off frames: enough for a lead_off alert."""
    async with connect(f"{url}?leadoff=1{query}", additional_headers=headers or {}) as ws:
        for seq in range(20):
            await ws.send(encode_frame(seq, np.full(36, 2048), flags=1))
        await asyncio.sleep(0.3)


async def refused(url: str, headers: dict[str, str]) -> int:
    try:
        async with connect(url, additional_headers=headers):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


@needs_mosquitto
def test_a_device_cannot_stream_as_another_device(secured):
    _, _, url = secured
    own = {"X-ECG-Device": OWN.device_id, "X-ECG-Token": OWN.token}
    attempts = [
        {"X-ECG-Device": OTHER.device_id, "X-ECG-Token": OWN.token},  # its own valid token, another's id
        {"X-ECG-Device": OTHER.device_id, "X-ECG-Token": WRONG_TOKEN},
        {"X-ECG-Device": OTHER.device_id},  # no token at all
    ]
    assert [asyncio.run(refused(url, h)) for h in attempts] == [401, 401, 401]
    # the headers win over the query: a query naming its own device does not lend its token to another id
    assert asyncio.run(refused(f"{url}?device={OWN.device_id}&token={OWN.token}",
                               {"X-ECG-Device": OTHER.device_id})) == 401
    assert asyncio.run(refused(url, own)) == 101


@needs_mosquitto
def test_over_tls_with_a_password_alerts_reach_the_patients_caregivers_and_nobody_elses(secured):
    broker, gateway, url = secured
    team = Client(broker, "cg-careteam", USERS["cg-careteam"], tls=True)  # follows p0001 and p0002
    try:
        team.subscribe("ecg/#")
        asyncio.run(lead_off(url, query=f"&device={OWN.device_id}&token={OWN.token}"))
        asyncio.run(lead_off(url, {"X-ECG-Device": OTHER.device_id, "X-ECG-Token": OTHER.token}))
        deadline = time.monotonic() + 20
        while not any(t == "ecg/p0001/alert" for t, _ in team.received):
            assert time.monotonic() < deadline, f"no alert for p0001 over TLS; got {[t for t, _ in team.received]}"
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while "outbox 0" not in gateway.status:  # the p0002 alert was offered to the broker too
            assert time.monotonic() < deadline, gateway.status
            time.sleep(0.05)
        time.sleep(1.0)
        alert = json.loads(next(p for t, p in team.received if t == "ecg/p0001/alert"))
        assert (alert["type"], alert["device_id"]) == ("lead_off", OWN.device_id)
        # gw-home-p0001 may not write under p0002: the ACL drops it although the gateway raised it
        assert not any(t.startswith("ecg/p0002/") for t, _ in team.received)
        assert "kit-b" in gateway.log_tail(400)  # the gateway did serve kit-b
    finally:
        team.close()


@needs_mosquitto
def test_no_secret_appears_in_the_gateways_log(secured):
    """Run last in the module: the log holds the connections, refusals and alerts of the tests above."""
    _, gateway, url = secured
    asyncio.run(refused(f"{url}?device={OWN.device_id}&token={WRONG_TOKEN}", {}))
    asyncio.run(refused(f"{url}?device=nobody&token={OWN.token}", {}))
    time.sleep(0.5)
    log = gateway.log.read_text(errors="replace")
    assert "DEBUG" in log and "refused" in log and OWN.device_id in log  # the log did capture the run
    for secret in (OWN.token, OTHER.token, WRONG_TOKEN, USERS[GATEWAY_USER]):
        assert secret not in log
