"""Deployment on the Pi: the systemd unit, its sandbox, install.sh and the broker's ACLs.

* ``deploy/ecg-gateway.service`` and ``deploy/ecg-web.service`` (the console)
  pass ``systemd-analyze verify`` with no warning, and ``systemd-analyze
  security`` rates them OK (<= 2.0);
* the gateway's Python stack (numpy, scipy, LiteRT, the stream processor)
  runs under the seccomp rules of its ``MemoryDenyWriteExecute=yes``;
* ``deploy/install.sh`` installs into a scratch root (user, virtualenv,
  config, enabled unit) and a second run changes nothing it should keep,
  adding the console with ``--with-console``;
* ``deploy/mosquitto`` run by a real Mosquitto: gateways publish only under
  their own patients, caregivers read only the patients they follow, over
  TLS too.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway.tools.localbroker import find_mosquitto, free_port

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "ecg-gateway.service"
WEB_UNIT = DEPLOY / "ecg-web.service"
INSTALLED_BIN = "/opt/ecg-gateway/venv/bin/"
UNITS = {"ecg-gateway.service": "ecg-gateway", "ecg-web.service": "ecg-web"}  # unit -> the program it starts
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None,
                                           reason="systemd-analyze is not installed (apt-get install systemd)")


# ------------------------------------------------------------------ the unit

def unit_with_existing_exec(tmp_path: Path, extra: str = "", name: str = "ecg-gateway.service") -> Path:
    """The unit, unchanged but for ExecStart's binary, which must exist for verify to pass.

    The project's own entry point (of the running virtualenv) stands in for
    the one install.sh puts under /opt; every directive is the real one.
    """
    text = (DEPLOY / name).read_text()
    program = UNITS[name]
    assert text.count(INSTALLED_BIN + program + " ") == 1
    exe = Path(sys.prefix) / "bin" / program
    assert exe.is_file(), f"the {program} entry point is not installed in this environment"
    text = text.replace(INSTALLED_BIN + program, str(exe)).replace("[Service]\n", f"[Service]\n{extra}", 1)
    out = tmp_path / name
    out.write_text(text)
    return out


@needs_systemd_analyze
@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_verifies_without_any_warning(tmp_path, name):
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit_with_existing_exec(tmp_path, name=name))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@needs_systemd_analyze
def test_verify_would_report_a_bad_directive(tmp_path):
    # control: the test above can fail -- verify reports problems on stderr
    unit = unit_with_existing_exec(tmp_path, extra="ProtectSystem=sometimes\nNoSuchDirective=1\n")
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "NoSuchDirective" in result.stderr and "protect system" in result.stderr.lower()


@needs_systemd_analyze
@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_security_exposure_is_ok(tmp_path, name):
    result = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(DEPLOY / name)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0 and match.group(2) == "OK", result.stdout


def test_unit_runs_the_installed_gateway_as_a_notify_service_with_a_watchdog():
    lines = [ln.strip() for ln in UNIT.read_text().splitlines()]
    for expected in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=on-failure", "User=ecg",
                     "StateDirectory=ecg-gateway", "ConfigurationDirectory=ecg-gateway", "UMask=0077",
                     f"ExecStart={INSTALLED_BIN}ecg-gateway --config /etc/ecg-gateway/gateway.toml",
                     "MemoryDenyWriteExecute=yes", "CapabilityBoundingSet=", "WantedBy=multi-user.target"):
        assert expected in lines, expected


def test_gateway_stack_runs_under_memory_deny_write_execute():
    # deploy/mdwe_check.py loads the seccomp rules systemd uses for MemoryDenyWriteExecute=yes,
    # checks a writable+executable mapping is refused, then runs LiteRT and the processor.
    result = subprocess.run([sys.executable, str(DEPLOY / "mdwe_check.py"), "--model",
                             str(REPO / "tests" / "fixtures" / "models" / "tiny.tflite")],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MemoryDenyWriteExecute: OK" in result.stdout
    assert "with ai_edge_litert" in result.stdout


# ------------------------------------------------------------------ install.sh

def scratch_root(path: Path) -> Path:
    """An empty root filesystem with the account files a fresh Raspberry Pi OS has."""
    etc = path / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\npi:x:1000:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\npi:!::\n")
    for f in ("shadow", "gshadow"):
        (etc / f).chmod(0o640)
    return path


#: The environment of a root shell on the Pi: nothing of this test run's Python path.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run_install(root: Path, *options: str) -> subprocess.CompletedProcess:
    # No apt and no shipped-model check on the test machine; --no-deps: the runtime's
    # dependencies are what pyproject.toml lists, installing them again proves nothing.
    return subprocess.run(["bash", str(DEPLOY / "install.sh"), "--root", str(root), "--no-apt", "--no-check",
                           "--pip-args", "--no-deps", *options], capture_output=True, text=True, timeout=600,
                          env=CLEAN_ENV)


@pytest.mark.skipif(os.geteuid() != 0, reason="install.sh needs root (it sets root:ecg ownership)")
@pytest.mark.skipif(shutil.which("systemctl") is None or shutil.which("useradd") is None,
                    reason="systemctl or useradd is not installed")
@pytest.mark.skipif(not (DEPLOY / "gateway.example.toml").is_file(),
                    reason="deploy/gateway.example.toml (the I/O engineer's) is not there yet")
def test_install_into_a_scratch_root_twice(tmp_path):
    root = scratch_root(tmp_path / "root")
    first = run_install(root)
    assert first.returncode == 0, first.stdout + first.stderr

    passwd = (root / "etc/passwd").read_text()
    user = [ln for ln in passwd.splitlines() if ln.startswith("ecg:")]
    assert len(user) == 1 and user[0].endswith(":/var/lib/ecg-gateway:/usr/sbin/nologin")
    gid = int(next(ln for ln in (root / "etc/group").read_text().splitlines() if ln.startswith("ecg:")).split(":")[2])
    assert gid < 1000  # a system group

    conf_dir, conf = root / "etc/ecg-gateway", root / "etc/ecg-gateway/gateway.toml"
    assert conf.read_text() == (DEPLOY / "gateway.example.toml").read_text()
    for path, mode in ((conf_dir, 0o750), (conf, 0o640)):
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == mode and (st.st_uid, st.st_gid) == (0, gid), path

    unit = root / "etc/systemd/system/ecg-gateway.service"
    assert unit.read_text() == UNIT.read_text() and stat.S_IMODE(unit.stat().st_mode) == 0o644
    wants = root / "etc/systemd/system/multi-user.target.wants/ecg-gateway.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/ecg-gateway.service"

    venv = root / "opt/ecg-gateway/venv"
    assert (venv / "bin/ecg-gateway").is_file()
    probe = subprocess.run([str(venv / "bin/python"), "-c",
                            "import importlib.util as u; print(u.find_spec('gateway').origin, "
                            "u.find_spec('tensorflow') is None)"], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path, env=CLEAN_ENV)
    origin, no_tf = probe.stdout.split()
    assert origin.startswith(str(venv)) and no_tf == "True"  # its own copy, and no TensorFlow

    assert not (root / "etc/ecg-web").exists() and not (root / "etc/systemd/system/ecg-web.service").exists()

    # An administrator's configuration survives a re-install (an upgrade); so do its owner and mode.
    # The upgrade adds the console.
    conf.write_text("# edited by the administrator\n")
    second = run_install(root, "--with-console")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "kept existing" in second.stdout and "user ecg exists" in second.stdout
    assert conf.read_text() == "# edited by the administrator\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640 and conf.stat().st_gid == gid
    assert (root / "etc/passwd").read_text() == passwd
    assert unit.read_text() == UNIT.read_text() and wants.is_symlink()
    web_conf = root / "etc/ecg-web/web.toml"
    assert web_conf.read_text() == (DEPLOY / "web.example.toml").read_text()
    assert stat.S_IMODE(web_conf.stat().st_mode) == 0o640 and web_conf.stat().st_gid == gid
    assert (root / "etc/systemd/system/ecg-web.service").read_text() == WEB_UNIT.read_text()
    assert os.readlink(root / "etc/systemd/system/multi-user.target.wants/ecg-web.service") == \
        "/etc/systemd/system/ecg-web.service"
    assert (venv / "bin/ecg-web").is_file()


def test_install_refuses_a_root_without_account_files(tmp_path):
    result = subprocess.run(["bash", str(DEPLOY / "install.sh"), "--root", str(tmp_path), "--no-apt"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "etc/passwd is missing" in result.stderr or "run as root" in result.stderr


# ------------------------------------------------------------------ Mosquitto ACLs

USERS = {"gw-home-p0001": "gw1-pw", "gw-home-p0002": "gw2-pw", "cg-alice": "alice-pw", "cg-careteam": "team-pw",
         "web-console": "console-pw"}


class Broker:
    """The example Mosquitto configuration and ACL, run with test certificates, users and ports."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        certs = workdir / "certs"
        certs.mkdir(parents=True)
        self.ca = make_certificates(certs)
        passwd = workdir / "passwd"
        for i, (user, password) in enumerate(USERS.items()):
            subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwd), user, password],
                           check=True, capture_output=True)
        shutil.copy(DEPLOY / "mosquitto" / "acl", workdir / "acl")
        self.plain_port, self.tls_port = free_port(), free_port()
        conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
        for old, new in (("/etc/mosquitto/ecg-edge/", f"{workdir}/"),
                         ("listener 1883 127.0.0.1", f"listener {self.plain_port} 127.0.0.1"),
                         ("listener 8883\n", f"listener {self.tls_port} 127.0.0.1\n")):
            assert old in conf, f"deploy/mosquitto/mosquitto.conf no longer has {old!r}"
            conf = conf.replace(old, new)
        if os.geteuid() == 0:
            conf += "user root\n"  # the test's files are private to root; a Pi's are readable by mosquitto
        self.log = workdir / "mosquitto.log"
        conf += f"log_dest file {self.log}\n"
        (workdir / "mosquitto.conf").write_text(conf)
        self.process = subprocess.Popen([find_mosquitto(), "-c", str(workdir / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while "running" not in (self.log.read_text() if self.log.exists() else ""):
            assert self.process.poll() is None, self.log.read_text() if self.log.exists() else "mosquitto exited"
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def make_certificates(certs: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1, as deploy/mosquitto/README.md makes them."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=certs)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=ecg-edge test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return certs / "ca.crt"


class Client:
    """A connected paho client that records what it receives."""

    def __init__(self, broker: Broker, user: str | None, password: str | None = None, tls: bool = False):
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.subacks: list = []
        self._suback = threading.Event()
        self.c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"{user or 'anon'}-{os.urandom(3).hex()}")
        if user is not None:
            self.c.username_pw_set(user, password)
        if tls:
            self.c.tls_set(ca_certs=str(broker.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, codes, p: (self.subacks.extend(codes), self._suback.set())
        self.c.connect("127.0.0.1", broker.tls_port if tls else broker.plain_port)
        self.c.loop_start()
        self.connected.wait(10)

    def _on_connect(self, c, u, flags, reason, props):
        self.reason = reason
        self.connected.set()

    @property
    def accepted(self) -> bool:
        return self.reason is not None and not self.reason.is_failure

    def subscribe(self, *topics: str):
        self._suback.clear()
        self.c.subscribe([(t, 1) for t in topics])
        assert self._suback.wait(10)

    def publish(self, topic: str, payload: str):
        self.c.publish(topic, payload, qos=1).wait_for_publish(10)

    def wait_for(self, topic: str, payload: str, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while (topic, payload.encode()) not in self.received:
            assert time.monotonic() < deadline, f"{topic} {payload} never arrived; got {self.received}"
            time.sleep(0.02)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


needs_mosquitto = pytest.mark.skipif(
    find_mosquitto() is None or shutil.which("mosquitto_passwd") is None or shutil.which("openssl") is None,
    reason="mosquitto, mosquitto_passwd or openssl is not installed (apt-get install mosquitto openssl)")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.stop()


@pytest.fixture
def connect(broker):
    made: list[Client] = []

    def make(user, password=None, tls=False) -> Client:
        made.append(Client(broker, user, password if password is not None else USERS.get(user), tls))
        return made[-1]

    yield make
    for c in made:
        c.close()


@needs_mosquitto
def test_anonymous_clients_and_wrong_passwords_are_refused(connect):
    assert not connect(None).accepted
    assert not connect("cg-alice", "not-her-password").accepted
    assert connect("cg-alice").accepted


@needs_mosquitto
def test_a_gateway_publishes_only_under_its_own_patient(connect):
    team = connect("cg-careteam")  # follows p0001 and p0002: sees whatever reaches either
    team.subscribe("ecg/#", "homeassistant/#")
    gw1, gw2 = connect("gw-home-p0001"), connect("gw-home-p0002")
    forged = [("ecg/p0002/alert", "forged by gw1"), ("homeassistant/sensor/ecg_p0002/heart_rate/config", "forged"),
              ("ecg/_gateway/gw-home-p0002/availability", "offline")]
    for topic, payload in forged:
        gw1.publish(topic, payload)
    gw1.publish("ecg/p0001/alert", "from gw1")  # after the forgeries on the same connection
    gw1.publish("homeassistant/sensor/ecg_p0001/heart_rate/config", "{}")
    gw1.publish("ecg/_gateway/gw-home-p0001/availability", "online")
    gw2.publish("ecg/p0002/alert", "from gw2")
    team.wait_for("ecg/_gateway/gw-home-p0001/availability", "online")
    team.wait_for("ecg/p0002/alert", "from gw2")
    assert ("ecg/p0001/alert", b"from gw1") in team.received
    assert ("homeassistant/sensor/ecg_p0001/heart_rate/config", b"{}") in team.received
    for topic, payload in forged:
        assert (topic, payload.encode()) not in team.received


@needs_mosquitto
def test_a_caregiver_reads_only_the_patients_they_follow(connect):
    alice, team = connect("cg-alice"), connect("cg-careteam")
    for c in (alice, team):
        c.subscribe("ecg/#", "ecg/p0002/alert", "homeassistant/#")
    gw1, gw2 = connect("gw-home-p0001"), connect("gw-home-p0002")
    gw2.publish("ecg/p0002/alert", "p2 alert")
    gw2.publish("homeassistant/event/ecg_p0002/arrhythmia/config", "p2 config")
    gw1.publish("ecg/p0001/alert", "p1 alert")
    team.wait_for("ecg/p0002/alert", "p2 alert")
    team.wait_for("homeassistant/event/ecg_p0002/arrhythmia/config", "p2 config")
    team.wait_for("ecg/p0001/alert", "p1 alert")
    alice.wait_for("ecg/p0001/alert", "p1 alert")
    assert not any("p0002" in topic for topic, _ in alice.received)
    # and a caregiver cannot publish into a patient's topics
    alice.publish("ecg/p0001/alert", "forged by alice")
    gw1.publish("ecg/p0001/status", "marker")
    team.wait_for("ecg/p0001/status", "marker")
    assert ("ecg/p0001/alert", b"forged by alice") not in team.received


@needs_mosquitto
def test_the_console_reads_every_patient_and_writes_only_acknowledgements(connect):
    console, alice = connect("web-console"), connect("cg-alice")
    console.subscribe("ecg/#")
    alice.subscribe("ecg/#")
    gw1, gw2 = connect("gw-home-p0001"), connect("gw-home-p0002")
    for kind in ("alert", "status", "availability", "beat", "trace"):
        gw2.publish(f"ecg/p0002/{kind}", f"p2 {kind}")
    gw1.publish("ecg/_gateway/gw-home-p0001/availability", "online")
    for kind in ("alert", "status", "availability", "beat", "trace"):
        console.wait_for(f"ecg/p0002/{kind}", f"p2 {kind}")
    console.wait_for("ecg/_gateway/gw-home-p0001/availability", "online")
    # its acknowledgements reach the caregivers (and Home Assistant); it cannot forge anything else
    console.publish("ecg/p0001/alert", "forged by the console")
    console.publish("ecg/p0001/status", "forged by the console")
    console.publish("ecg/p0001/ack", '{"alert_id": "a1", "by": "nurse"}')
    alice.wait_for("ecg/p0001/ack", '{"alert_id": "a1", "by": "nurse"}')
    gw1.publish("ecg/p0001/status", "marker")
    alice.wait_for("ecg/p0001/status", "marker")
    assert not any(payload == b"forged by the console" for _, payload in alice.received)


@needs_mosquitto
def test_the_tls_listener_serves_the_same_users_and_acls(connect):
    alice = connect("cg-alice", tls=True)
    assert alice.accepted
    alice.subscribe("ecg/#")
    gw1 = connect("gw-home-p0001", tls=True)
    gw1.publish("ecg/p0002/alert", "forged over tls")
    gw1.publish("ecg/p0001/alert", "over tls")
    alice.wait_for("ecg/p0001/alert", "over tls")
    assert all(topic.startswith("ecg/p0001/") for topic, _ in alice.received)
    assert not connect("cg-alice", "wrong", tls=True).accepted


# ------------------------------------------------------------------ the service as systemd runs it

def test_the_service_keeps_the_units_notify_contract_and_takes_the_kits_stream(tmp_path, mosquitto):
    """``ecg-gateway`` as the unit starts it (Type=notify, WatchdogSec): READY=1 once serving, WATCHDOG=1
    pings, the kit's frames (the firmware's host client) turned into beats on the MQTT status topic,
    STOPPING=1 and exit 0 on SIGTERM."""
    import json
    import signal
    import socket

    from test_firmware import FIRMWARE, GXX, build

    if GXX is None:
        pytest.skip("g++ is not installed (apt-get install g++)")
    client = build(FIRMWARE / "host_client.cpp", tmp_path / "host_client", "-O2")
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}
[server.limits]
rate_factor = 0  # the kit's stand-in streams at 5x real time
[devices.kit-0001]
patient = "p0001"
token = "kit-secret"
[mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
client_id = "gw-test"
[model]
path = "{REPO / 'tests/fixtures/models/tiny.tflite'}"
scheme = "tiny"
[state]
dir = "{tmp_path / 'state'}"
[processor]
status_every_s = 1.0
""")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(1.0)
    messages: list[str] = []

    def wait_for(word: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(word in m.split("\n") for m in messages):
            assert time.monotonic() < deadline, f"no {word} from the service; got {messages}"
            try:
                messages.append(notify.recv(4096).decode())
            except socket.timeout:
                assert service.poll() is None, service.stderr.read()

    status = []
    sub = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="test-status")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("ecg/p0001/status", 1)
    sub.on_message = lambda c, u, m: status.append(json.loads(m.payload))
    sub.connect(mosquitto.host, mosquitto.port)
    sub.loop_start()
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}
    service = subprocess.Popen([str(Path(sys.prefix) / "bin" / "ecg-gateway"), "--config", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("READY=1", 120)
        messages.clear()
        wait_for("WATCHDOG=1", 5)  # every WatchdogSec / 2 = 1 s here
        kit = subprocess.run([str(client), "--url", f"ws://127.0.0.1:{port}/v1/stream", "--device", "kit-0001",
                              "--token", "kit-secret", "--seconds", "30", "--speed", "5"],
                             capture_output=True, text=True, timeout=120)
        assert kit.returncode == 0, kit.stderr
        deadline = time.monotonic() + 30
        while not (status and status[-1]["beats"] >= 30):
            assert time.monotonic() < deadline, f"no status with the kit's beats; got {status[-1:]}"
            time.sleep(0.2)
        assert status[-1]["bad_frames"] == 0 and status[-1]["gaps"] == 0
        service.send_signal(signal.SIGTERM)
        wait_for("STOPPING=1", 30)
        assert service.wait(30) == 0
    finally:
        if service.poll() is None:
            service.kill()
        sub.loop_stop()
        sub.disconnect()
        notify.close()
