"""The console (gateway/web): accounts, sessions, CSRF, rate limiting, what a user may see, the store, live state.

These run the aiohttp application in-process (aiohttp's test client) and
feed :class:`Live` MQTT messages directly; tests/test_web_mqtt.py and
tests/test_browser.py run it against a real broker, gateway and browser.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the console needs the web extra (pip install -e .[web])")
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from gateway.web.app import Console  # noqa: E402
from gateway.web.auth import LoginLimiter, add_user, verify  # noqa: E402
from gateway.web.config import ConsoleConfig  # noqa: E402
from gateway.web.live import Client, Live  # noqa: E402
from gateway.web.store import Ack, Store  # noqa: E402


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def alert(n: int, patient: str = "p1", severity: str = "critical", state: str = "raised", t: float | None = None,
          kind: str = "ventricular_run") -> dict:
    return {"id": f"a{n}", "device_id": "kit1", "patient_id": patient, "type": kind, "severity": severity,
            "state": state, "start": 1000.0 + n, "time": t if t is not None else 1_800_000_000.0 + n,
            "heart_rate": 150.0, "beat_counts": {"V": 4}, "model_version": "m", "message": f"alert {n}",
            "signal_quality": 1.0, "strip_png": "iVBORw0KGgo="}


def message(kind: str, patient: str, payload) -> tuple[str, bytes]:
    return f"ecg/{patient}/{kind}", payload if isinstance(payload, bytes) else json.dumps(payload).encode()


@pytest.fixture
def setup(tmp_path):
    clock = Clock()
    config = ConsoleConfig(state_dir=str(tmp_path / "state"))
    store = Store(config.db_path)
    add_user(store, "nurse", "correct horse", ["p1"], clock())
    add_user(store, "other", "battery staple", ["p2"], clock())
    live = Live(config, store, clock=clock)
    yield config, store, live, clock
    store.close()


def run(setup, scenario):
    """Run ``scenario(client, live, store, clock)`` against the app on a test server."""
    config, store, live, clock = setup

    async def main():
        live._loop = asyncio.get_running_loop()
        client = TestClient(TestServer(Console(config, store, live, clock=clock).app()))
        await client.start_server()
        try:
            await scenario(client, live, store, clock)
        finally:
            await client.close()

    asyncio.run(main())


async def login(client, user="nurse", password="correct horse"):
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    return await client.post("/login", data={"csrf": token, "user": user, "password": password},
                             allow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'<meta name="csrf" content="([^"]+)"', html).group(1)


# -- accounts and sessions ----------------------------------------------------------------------

def test_passwords_are_salted_scrypt_hashes(setup):
    _, store, _, _ = setup
    a, b = store.user("nurse"), store.user("other")
    assert a.salt != b.salt and len(a.hash) == 32 and b"correct" not in a.hash
    assert verify(store, "nurse", "correct horse") and not verify(store, "nurse", "Correct horse")
    assert not verify(store, "nobody", "correct horse")


def test_nothing_about_a_patient_is_served_without_a_login(setup):
    async def scenario(client, live, store, clock):
        for path in ("/", "/patient/p1", "/analysis", "/alert/a1/strip.png"):
            r = await client.get(path, allow_redirects=False)
            assert (r.status, r.headers.get("Location")) == (303, "/login"), path
        assert (await client.get("/ws")).status == 401
        assert (await client.post("/alert/a1/ack", data={"csrf": "x"})).status == 401
    run(setup, scenario)


def test_login_sets_a_strict_httponly_session_cookie_and_logout_ends_the_session(setup):
    async def scenario(client, live, store, clock):
        r = await login(client)
        assert (r.status, r.headers["Location"]) == (303, "/")
        cookie = [h for h in r.headers.getall("Set-Cookie") if h.startswith("ecg_session=")][0]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        home = await client.get("/")
        assert home.status == 200 and "p1" in await home.text()
        assert "default-src 'self'" in home.headers["Content-Security-Policy"]
        await client.post("/logout", data={"csrf": csrf_of(await home.text())})
        assert (await client.get("/", allow_redirects=False)).status == 303
    run(setup, scenario)


def test_a_wrong_password_is_refused_and_logins_are_rate_limited_per_account(setup):
    async def scenario(client, live, store, clock):
        for _ in range(5):
            r = await login(client, password="guess")
            assert r.status == 401 and "Wrong user name or password" in await r.text()
        r = await login(client)  # even the right password waits now
        assert r.status == 429 and "Too many failed logins" in await r.text()
        r = await login(client, "other", "battery staple")
        assert r.status == 303  # another account is not blocked
        client.session.cookie_jar.clear()
        clock.t += 301  # the oldest failure has left the window
        assert (await login(client)).status == 303
    run(setup, scenario)


def test_login_attempts_are_limited_per_client_address_across_accounts():
    limiter = LoginLimiter(window_s=60, per_account=5, per_address=3)
    for name in ("a", "b", "c"):
        limiter.failed(name, "10.0.0.9", now=0)
    assert limiter.retry_after("d", "10.0.0.9", now=1) == pytest.approx(59)
    assert limiter.retry_after("d", "10.0.0.8", now=1) == 0
    assert limiter.retry_after("d", "10.0.0.9", now=61) == 0


def test_a_login_form_without_its_token_and_an_action_without_the_csrf_token_are_refused(setup):
    async def scenario(client, live, store, clock):
        r = await client.post("/login", data={"user": "nurse", "password": "correct horse"}, allow_redirects=False)
        assert r.status == 403
        await login(client)
        store.add_alert(alert(1), None, clock())
        assert (await client.post("/alert/a1/ack", data={"csrf": "forged"})).status == 403
        assert (await client.post("/alert/a1/ack")).status == 403
        assert store.ack("a1") is None
    run(setup, scenario)


def test_a_user_sees_only_the_patients_assigned_to_them(setup):
    async def scenario(client, live, store, clock):
        store.add_alert(alert(1, "p2"), b"\x89PNG", clock())
        await login(client)
        home = await (await client.get("/")).text()
        assert 'data-patient="p1"' in home and "p2" not in home
        for path in ("/patient/p2", "/alert/a1/strip.png", "/patient/unknown"):
            r = await client.get(path)
            assert r.status == 404, path  # a forbidden patient looks like an unknown one
        r = await client.post("/alert/a1/ack", data={"csrf": csrf_of(home)})
        assert r.status == 404 and store.ack("a1") is None
    run(setup, scenario)


# -- alerts, acknowledgements, the store ----------------------------------------------------------

def test_alerts_are_kept_once_by_id_with_their_strip_and_survive_a_restart(setup, tmp_path):
    config, store, live, clock = setup
    assert store.add_alert(alert(1), b"png-bytes", clock())
    assert not store.add_alert(alert(1), b"png-bytes", clock())  # the re-send of a lost PUBACK
    store.add_ack(Ack("a1", "p1", "nurse", 5.0, "console-a"))
    store.close()
    again = Store(config.db_path)
    assert [a["id"] for a in again.alerts("p1")] == ["a1"]
    assert again.strip("a1") == ("p1", b"png-bytes")
    assert again.alert("a1")["ack"]["by"] == "nurse"
    again.close()


def test_the_first_acknowledgement_of_an_alert_stands(setup):
    _, store, _, _ = setup
    assert store.add_ack(Ack("a1", "p1", "nurse", 5.0, "console-a"))
    assert not store.add_ack(Ack("a1", "p1", "doctor", 6.0, "console-b"))
    assert store.ack("a1").by == "nurse"


def test_mqtt_alerts_and_acks_reach_the_browsers_of_users_who_see_the_patient(setup):
    async def scenario(client, live, store, clock):
        nurse, other = Client("nurse", frozenset({"p1"})), Client("other", frozenset({"p2"}))
        live.clients |= {nurse, other}
        live.receive(*message("alert", "p1", alert(1)))
        live.receive(*message("alert", "p1", alert(1)))  # a duplicate is not shown twice
        live.receive(*message("ack", "p1", {"alert_id": "a1", "by": "doctor", "at": 7.0, "console": "b"}))
        live.receive(*message("alert", "p1", b"not json"))  # ignored, logged
        await asyncio.sleep(0.05)
        kinds = [nurse.queue.get_nowait()["kind"] for _ in range(nurse.queue.qsize())]
        assert kinds == ["alert", "ack"] and other.queue.empty()
        assert store.alert("a1")["ack"]["by"] == "doctor"
    run(setup, scenario)


def test_the_live_trace_goes_only_to_the_page_watching_the_patient(setup):
    async def scenario(client, live, store, clock):
        watching, overview = Client("nurse", frozenset({"p1"}), watching="p1"), Client("nurse", frozenset({"p1"}))
        live.clients |= {watching, overview}
        live.receive(*message("trace", "p1", {"t": 1.0, "hz": 120, "uv": [1, 2, 3]}))
        live.receive(*message("status", "p1", {"heart_rate": 71.0, "signal_quality": "good", "lead": "on",
                                                "extra": {"active_alerts": []}}))
        await asyncio.sleep(0.05)
        assert [watching.queue.get_nowait()["kind"] for _ in range(2)] == ["trace", "patient"]
        assert overview.queue.get_nowait()["data"]["heart_rate"] == 71.0 and overview.queue.empty()
    run(setup, scenario)


def test_acknowledging_in_one_session_is_seen_by_who_and_when_in_another(setup):
    async def scenario(client, live, store, clock):
        live.receive(*message("alert", "p1", alert(1)))
        await asyncio.sleep(0.05)
        other_session = Client("nurse2", frozenset({"p1"}))
        live.clients.add(other_session)
        await login(client)
        home = await (await client.get("/patient/p1")).text()
        r = await client.post("/alert/a1/ack", data={"csrf": csrf_of(home)}, headers={"Accept": "application/json"})
        assert r.status == 200 and (await r.json())["by"] == "nurse"
        pushed = other_session.queue.get_nowait()
        assert pushed["kind"] == "ack" and pushed["ack"]["by"] == "nurse" and pushed["ack"]["at"] == clock()
        page = await (await client.get("/patient/p1")).text()
        assert '"by": "nurse"' in page
    run(setup, scenario)


def test_an_unacknowledged_critical_alert_is_announced_again_every_renotify_s_until_acknowledged(setup):
    config, store, live, clock = setup
    store.add_alert(alert(1, t=clock()), None, clock())
    store.add_alert(alert(2, severity="high", t=clock()), None, clock())
    store.add_alert(alert(3, "p2", t=clock(), kind="bradycardia"), None, clock())
    store.add_alert(alert(4, "p2", state="cleared", t=clock() + 1, kind="bradycardia"), None, clock())
    clock.t += config.alerting.renotify_s - 1
    assert live.announce_due() == []
    clock.t += 1
    assert [a["id"] for a in live.announce_due()] == ["a1"]  # not the high one, not the cleared episode
    clock.t += 10
    assert live.announce_due() == []
    store.add_ack(Ack("a1", "p1", "nurse", clock(), "c"))
    clock.t += config.alerting.renotify_s
    assert live.announce_due() == []


def test_an_upload_over_the_limit_or_of_an_unknown_kind_is_refused_in_one_line(setup):
    import dataclasses

    config, store, live, clock = setup
    small = dataclasses.replace(config, http=dataclasses.replace(config.http, max_upload_mb=0.01))

    async def scenario(client, live, store, clock):
        await login(client)
        csrf = csrf_of(await (await client.get("/analysis")).text())
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("file", b"0" * 20_000, filename="big.csv")
        r = await client.post("/analysis", data=form)
        assert r.status == 413 and "larger than 0.01 MB" in await r.text()
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("file", b"x", filename="record.dat")
        r = await client.post("/analysis", data=form)
        assert r.status == 400 and "needs its .hea header too" in await r.text()
        assert not any((Path(config.state_dir) / "analysis").iterdir())  # nothing left behind

    run((small, store, live, clock), scenario)


# -- configuration --------------------------------------------------------------------------------

WEB_EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "web.example.toml"


def test_the_console_example_config_loads_and_shows_every_key():
    import dataclasses

    from gateway.web.config import load_console_config

    config = load_console_config(WEB_EXAMPLE)
    assert (config.http.port, config.mqtt.username, config.alerting.renotify_s) == (8080, "web-console", 120.0)
    text = WEB_EXAMPLE.read_text()

    def keys(cls, prefix=""):
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                yield from keys(type(default), f"{prefix}{f.name}.")
            elif f.name not in ("tls",):
                yield prefix, f.name

    for section, name in keys(ConsoleConfig):
        assert re.search(rf"^#? ?{name}(_file)? =", text, re.M), f"{section}{name} is not in deploy/web.example.toml"


def test_a_mistake_in_the_console_config_names_its_key(tmp_path):
    from gateway.service.typed_config import ConfigError
    from gateway.web.config import load_console_config

    bad = tmp_path / "web.toml"
    bad.write_text('[http]\nport = "x"\n')
    with pytest.raises(ConfigError, match=r'^http\.port: expected an integer 0\.\.65535, got "x"$'):
        load_console_config(bad)
    bad.write_text('[security]\nmax_failures = 3\n')
    with pytest.raises(ConfigError, match=r"^security\.max_failures: unknown key"):
        load_console_config(bad)
