"""The kit's firmware core on the host, and its byte compatibility with the gateway.

``firmware/ecg_protocol.h`` is plain C++ shared by the Nano 33 IoT sketch
and ``firmware/host_client.cpp``: its unit tests are built here with g++
(C++17 and the Arduino core's C++11), and the host client -- the same
queue, batching and frame encoding as the kit -- streams to the gateway's
real ingest server (``gateway.service.server.IngestServer``) started in the test.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gateway.service.config import DeviceConfig, LimitsConfig, ServerConfig
from gateway.events import Beat
from gateway.device import DeviceStream
from gateway.processor import ProcessorConfig, StreamProcessor
from gateway.service.server import IngestServer

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
GXX = shutil.which("g++")
ARM_GXX = shutil.which("arm-none-eabi-g++")  # Debian: gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib
pytestmark = pytest.mark.skipif(GXX is None, reason="g++ is not installed (apt-get install g++)")
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-pthread"]
TOKEN = "kit-secret-0001"
BATCH = 36


def build(source: Path, out: Path, *flags: str, std: str = "c++17") -> Path:
    result = subprocess.run([GXX, f"-std={std}", *WARNINGS, *flags, "-o", str(out), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"g++ failed on {source.name}:\n{result.stderr}"
    return out


@pytest.mark.parametrize("std", ["c++17", "c++11"])
@pytest.mark.parametrize("suite", ["test_protocol", "test_device"])
def test_firmware_unit_tests_pass(tmp_path, suite, std):
    exe = build(FIRMWARE / "tests" / f"{suite}.cpp", tmp_path / suite, "-O1", std=std)
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    summary = re.search(r"^(\d+) passed, (\d+) failed$", result.stdout, re.M)
    assert summary, result.stdout
    assert result.returncode == 0 and summary.group(2) == "0", result.stdout
    assert int(summary.group(1)) >= 5


def test_sketch_runs_in_the_host_simulation(tmp_path):
    # ecg_monitor.ino, sampler.cpp and watchdog.cpp unchanged, in C++11 as the Arduino core builds
    # them, against the stand-ins of firmware/tests/sim (Arduino core, SAMD21 registers, WiFiNINA,
    # arduinoWebSockets); firmware/tests/test_sketch.cpp plays the board and the gateway, and stands in
    # for free_memory.cpp with a simulated heap.  Built from a copy of the sketch with
    # secrets.example.h as its secrets.h.
    sketch = tmp_path / "ecg_monitor"
    shutil.copytree(FIRMWARE / "ecg_monitor", sketch, ignore=shutil.ignore_patterns("secrets.h"))
    shutil.copy(sketch / "secrets.example.h", sketch / "secrets.h")
    exe = tmp_path / "sketch_sim"
    result = subprocess.run([GXX, "-std=c++11", *WARNINGS, "-O1", "-I", str(FIRMWARE / "tests" / "sim"),
                             "-I", str(sketch), "-o", str(exe), "-x", "c++", str(sketch / "ecg_monitor.ino"),
                             "-x", "none", str(sketch / "sampler.cpp"), str(sketch / "watchdog.cpp"),
                             str(FIRMWARE / "tests" / "test_sketch.cpp")], capture_output=True, text=True)
    assert result.returncode == 0, f"the sketch does not build against the simulation:\n{result.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    summary = re.search(r"^(\d+) passed, (\d+) failed$", run.stdout, re.M)
    assert summary and run.returncode == 0 and summary.group(2) == "0", run.stdout
    assert int(summary.group(1)) >= 10
    # The library's leak of a WiFiClient per connect attempt, 10,000 times over: the sketch restarts
    # itself through the watchdog before the heap reaches the stack, and starts with a fresh heap.
    leak = re.search(r"^leak: 10000 reconnections, (\d+) restarts, lowest free memory \d+ of \d+ bytes$",
                     run.stdout, re.M)
    assert leak and int(leak.group(1)) > 0, run.stdout
    print(leak.group(0))


def sketch_includes(source: str) -> list[str]:
    """The headers a C++ source includes, in order, comments left out."""
    source = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)
    return re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', source, re.M)


def test_the_sketch_includes_wifinina_before_websockets():
    # The simulation passes every include path up front, so it cannot see this.  The Arduino builder
    # (and arduino-cli) puts a library on the include path when the sketch first includes it, and
    # WebSockets.h picks its network with __has_include(<WiFiNINA.h>): included first, WebSockets sees
    # no WiFiNINA and stops at WebSockets.h: #error "Please install WiFiNINA library!".
    includes = sketch_includes((FIRMWARE / "ecg_monitor" / "ecg_monitor.ino").read_text())
    assert "WiFiNINA.h" in includes and "WebSocketsClient.h" in includes
    assert includes.index("WiFiNINA.h") < includes.index("WebSocketsClient.h")


@pytest.mark.skipif(ARM_GXX is None, reason="arm-none-eabi-g++ is not installed")
def test_portable_core_builds_for_the_cortex_m0plus(tmp_path):
    # The core with the Arduino SAMD core's dialect and flags, linked against newlib-nano: a
    # read-modify-write atomic would not link (no such instructions on the M0+), sbrk() must resolve
    # for free_memory(), and the sample queue takes the 6,160 bytes the build for the board found.
    elf = tmp_path / "core.elf"
    result = subprocess.run([ARM_GXX, "-std=gnu++11", "-mcpu=cortex-m0plus", "-mthumb", "-Os", "-Wall", "-Wextra",
                             "-Werror", "-fno-rtti", "-fno-exceptions", "--specs=nano.specs", "--specs=nosys.specs",
                             "-o", str(elf), str(FIRMWARE / "tests" / "cortex_m0plus.cpp"),
                             str(FIRMWARE / "ecg_monitor" / "free_memory.cpp")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    nm = Path(ARM_GXX).with_name("arm-none-eabi-nm")
    symbols = subprocess.run([str(nm), "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    queue = re.search(r"^[0-9a-f]+ ([0-9a-f]+) B g_samples$", symbols, re.M)
    assert queue and int(queue.group(1), 16) == 6160, symbols


def test_sample_queue_is_race_free_under_thread_sanitizer(tmp_path):
    exe = build(FIRMWARE / "tests" / "test_protocol.cpp", tmp_path / "tsan", "-O1", "-g", "-fsanitize=thread")
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert "ThreadSanitizer" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def host_client(tmp_path_factory) -> Path:
    return build(FIRMWARE / "host_client.cpp", tmp_path_factory.mktemp("client") / "host_client", "-O2")


class RecordingProcessor:
    """Stands in for the stream processor: keeps what the server hands it, in order."""

    def __init__(self):
        self.samples: list[int] = []
        self.gaps: list[int] = []
        self.bad_frames = 0
        self.lead_off: list[bool] = []
        self.closed = threading.Event()

    def feed(self, samples, now, lead_off=False):
        self.samples += samples.tolist()
        self.lead_off.append(lead_off)
        return []

    def gap(self, missing_frames, now):
        self.gaps.append(missing_frames)
        return []

    def tick(self, now):
        return []

    def close(self, now):
        self.closed.set()
        return []

    def note_bad_frame(self):
        self.bad_frames += 1


class ConstantClassifier:
    """Every beat is normal: enough to see the real processor find the kit's beats."""

    labels = ("N", "V")
    scheme = "test"
    version = "constant-0"

    def classify(self, images, context):
        n = len(images)
        return np.zeros(n, dtype=np.int64), np.tile(np.array([[1.0, 0.0]], dtype=np.float32), (n, 1))


class EventLog:
    def __init__(self):
        self.events: list = []

    def publish_events(self, patient, events):
        self.events += events

    def device_online(self, patient, online):
        pass


class Gateway:
    """The gateway's ingest server on a free loopback port, in its own event-loop thread."""

    def __init__(self, make_processor, limits: LimitsConfig):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sink = EventLog()
        self.executor = ThreadPoolExecutor(1)
        config = ServerConfig(host="127.0.0.1", port=0, limits=limits)
        self.server = IngestServer(config, {"kit-0001": DeviceConfig(patient="p0001", token=TOKEN)},
                                   make_processor, self.sink, self.executor)
        self.port = self.call(self.server.start())

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def stop(self):
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.executor.shutdown()


@pytest.fixture
def recording_gateway():
    processors: list[RecordingProcessor] = []

    def make(params, device, now):
        processors.append(RecordingProcessor())
        return processors[-1]

    # Rate limit off: the tests stream faster than real time to stay quick.
    gw = Gateway(make, LimitsConfig(rate_factor=0))
    gw.processors = processors
    yield gw
    gw.stop()


def run_client(client: Path, url: str, *args: str, stdin: str | None = None, token: str = TOKEN):
    return subprocess.run([str(client), "--url", url, "--device", "kit-0001", "--token", token, *args],
                          input=stdin, capture_output=True, text=True, timeout=60)


def summary(stdout: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", stdout)}


def finished(gw: Gateway) -> RecordingProcessor:
    """The one session's processor once the server has handed it everything (the client said goodbye)."""
    assert len(gw.processors) == 1
    assert gw.processors[0].closed.wait(10), "the gateway did not finish the session"
    return gw.processors[0]


@pytest.mark.parametrize("auth", ["headers", "query"])
def test_gateway_accepts_the_kits_frames_sample_for_sample(host_client, recording_gateway, auth):
    signal = np.random.default_rng(7).integers(0, 4096, 1000)  # 27 full frames and a partial one
    result = run_client(host_client, recording_gateway.url, "--source", "stdin", "--speed", "8", "--auth", auth,
                        stdin=" ".join(map(str, signal)))
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout) == {"samples": 1000, "frames": math.ceil(1000 / BATCH), "dropped": 0,
                                      "server_errors": 0, "close": 1000}
    proc = finished(recording_gateway)
    assert proc.samples == signal.tolist()
    assert proc.gaps == [] and proc.bad_frames == 0
    assert not any(proc.lead_off)


def test_a_stalled_sender_reaches_the_gateway_as_a_gap_never_a_splice(host_client, recording_gateway):
    signal = np.arange(3600) % 4096  # every value unique: where the hole is shows in the samples
    # 360 samples in, the sender stops for 0.6 s while the "interrupt" goes on at 10x real time
    # (3600 samples/s): the 1024-sample queue overflows, as on the kit when Wi-Fi stalls.
    result = run_client(host_client, recording_gateway.url, "--source", "stdin", "--speed", "10",
                        "--stall", "1:0.6", stdin=" ".join(map(str, signal)))
    assert result.returncode == 0, result.stderr
    stats = summary(result.stdout)
    dropped = stats["dropped"]
    assert dropped > 0 and stats["samples"] + dropped == signal.size
    proc = finished(recording_gateway)
    received = np.array(proc.samples)
    assert received.size == signal.size - dropped
    holes = np.flatnonzero(np.diff(received) != 1)
    assert holes.size == 1, "the loss must be one contiguous hole, the rest in order"
    assert received[holes[0] + 1] - received[holes[0]] - 1 == dropped
    assert proc.gaps == [math.ceil(dropped / BATCH)]
    assert proc.bad_frames == 0


def test_a_wrong_token_is_refused_at_the_handshake(host_client, recording_gateway):
    result = run_client(host_client, recording_gateway.url, "--seconds", "1", token="not-the-token")
    assert result.returncode == 2
    assert "401" in result.stderr
    assert recording_gateway.processors == []


def test_the_client_reads_the_gateways_error_frames_and_close_code(host_client, recording_gateway):
    # Counts of 300 declared as 8-bit samples: the gateway answers every frame with a JSON
    # error and closes with 4003 once more than 50 come within 10 s.
    result = run_client(host_client, recording_gateway.url, "--source", "stdin", "--bits", "8", "--speed", "10",
                        stdin=" ".join(["300"] * 3000))
    assert result.returncode == 3
    assert re.search(r'server: \{"error": "sample 0 = 300 is outside the 8-bit ADC range', result.stderr)
    assert "server closed: 4003" in result.stderr
    stats = summary(result.stdout)
    assert stats["close"] == 4003 and stats["server_errors"] > 50


def test_the_same_stream_within_its_declared_range_is_accepted(host_client, recording_gateway):
    result = run_client(host_client, recording_gateway.url, "--source", "stdin", "--bits", "8", "--speed", "10",
                        stdin=" ".join(["255"] * 3000))
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout)["server_errors"] == 0
    assert finished(recording_gateway).samples == [255] * 3000


def test_the_kits_stream_gives_the_real_processor_its_heart_rate(host_client):
    # The host client's synthetic ECG beats at 72/min; the real stream processor, fed
    # by the real server from the kit's frames, must find beats 60/72 s apart.
    def make(params, device, now):
        stream = DeviceStream(params.device_id, device.patient, params.rate, params.bits, params.lead_off)
        return StreamProcessor(stream, ConstantClassifier(), ProcessorConfig(), now)

    gw = Gateway(make, LimitsConfig(rate_factor=0))
    try:
        result = run_client(host_client, gw.url, "--seconds", "30", "--speed", "10")
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 20
        while gw.server.sessions and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        gw.stop()
    beats = [e for e in gw.sink.events if isinstance(e, Beat)]
    assert len(beats) >= 30
    rr = np.array([b.rr for b in beats if b.rr is not None])
    assert np.median(rr) == pytest.approx(60 / 72, abs=2 / 360)
