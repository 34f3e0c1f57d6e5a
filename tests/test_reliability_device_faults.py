"""Device faults: a disconnection mid-beat, a stall, a device clock 2 % fast or slow.

Each scenario streams the normal-rhythm excerpt e100 (60 s) through the
stream processor with the arrival times the fault would give, ticking once
a second like the service, and checks that the fault is reported (gaps,
``rate_error`` on the status; its correction is specified in
test_clock.py), that it raises no arrhythmia alert, and
that beats resume.  The classifier answers with e100's reference labels, so
any alert would come from the discontinuity itself.  One scenario runs over
real WebSocket connections (the TCP connection dropped without a close
frame, then a new one); the server's bookkeeping of reconnections is shown
in test_server.py.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from websockets.asyncio.client import connect

from gateway.service.config import DeviceConfig, LimitsConfig, ServerConfig
from gateway.events import Alert, Beat, Status
from gateway.device import DeviceStream
from gateway.processor import ProcessorConfig, StreamProcessor
from gateway.service.protocol import encode_frame
from gateway.tools.replay import REPLAY_GAIN, record_counts
from gateway.service.server import IngestServer
from reference_classifier import FIXTURES, ReferenceClassifier
from test_server import RecordingSink

T0 = 1_700_000_000.0
FRAME = 36  # samples per frame at 360 Hz, like the kit (10 frames per second)
STREAM = DeviceStream("kit1", "p1", 360, 12, gain=REPLAY_GAIN)


@pytest.fixture(scope="module")
def e100():
    counts, rate = record_counts(str(FIXTURES / "e100"), gain=REPLAY_GAIN)
    assert rate == 360
    return counts, ReferenceClassifier("e100", STREAM)


class Device:
    """Drives a processor the way the server and the service's 1 s timer do."""

    def __init__(self, classifier):
        self.proc = StreamProcessor(STREAM, classifier, ProcessorConfig(), T0)
        self.events: list = []
        self.next_tick = T0 + 1.0

    def until(self, now: float) -> None:
        while self.next_tick <= now:
            self.events += self.proc.tick(self.next_tick)
            self.next_tick += 1.0

    def send(self, frames: list[np.ndarray], first_arrival: float, period: float) -> float:
        """Frames arriving every ``period`` s from ``first_arrival``; returns the last arrival time."""
        now = first_arrival
        for i, frame in enumerate(frames):
            now = first_arrival + i * period
            self.until(now)
            self.events += self.proc.feed(frame, now)
        return now

    def gap(self, missing: int, now: float) -> None:
        self.until(now)
        self.events += self.proc.gap(missing, now)

    def close(self, now: float) -> None:
        self.until(now)
        self.events += self.proc.close(now)

    def alerts(self) -> list[Alert]:
        return [e for e in self.events if isinstance(e, Alert)]

    def beats(self) -> list[Beat]:
        return [e for e in self.events if isinstance(e, Beat)]

    def statuses(self) -> list[Status]:
        return [e for e in self.events if isinstance(e, Status)]


def frames_of(counts: np.ndarray) -> list[np.ndarray]:
    return [counts[i:i + FRAME] for i in range(0, counts.size, FRAME)]


def undisturbed(counts, classifier) -> Device:
    device = Device(classifier)
    last = device.send(frames_of(counts), T0 + FRAME / 360, FRAME / 360)
    device.close(last)
    return device


def test_the_undisturbed_excerpt_raises_no_alert(e100):
    """The baseline the fault scenarios are held to."""
    counts, classifier = e100
    device = undisturbed(counts, classifier)
    assert device.alerts() == [] and len(device.beats()) > 60


def test_a_disconnection_mid_beat_is_reported_as_a_gap_and_raises_no_alert(e100):
    counts, classifier = e100
    device = Device(classifier)
    peaks = [b.sample for b in undisturbed(counts, classifier).beats()]
    cut = peaks[20] + 20  # 20 samples into a QRS complex: the connection drops there
    resume = cut + 5 * 360  # the device reconnects 5 s later and goes on from its current sample
    last = device.send(frames_of(counts[:cut]), T0 + FRAME / 360, FRAME / 360)
    reconnect = last + 5.0
    device.gap(0, reconnect)  # what the server does when a device reconnects
    device.send(frames_of(counts[resume:]), reconnect + FRAME / 360, FRAME / 360)
    device.close(reconnect + (counts.size - resume) / 360)
    assert device.alerts() == []
    gap_status = [s for s in device.statuses() if "gap_frames" in s.extra]
    assert len(gap_status) == 1 and gap_status[0].gaps >= 1
    after = [b for b in device.beats() if b.time > reconnect]
    assert len(after) >= 0.8 * (counts.size - resume) / 360  # beats resume (~75 per minute)
    assert all(b.rr is None or b.rr < 2.0 for b in device.beats())  # no RR spans the gap


def test_a_stall_with_the_samples_sent_late_is_counted_and_changes_no_beat(e100):
    """Wi-Fi hiccup: 3 s without frames, then the device's buffer arrives in a burst."""
    counts, classifier = e100
    reference = undisturbed(counts, classifier)
    device = Device(classifier)
    frames = frames_of(counts)
    stall_at = 300  # frame index (30 s)
    last = device.send(frames[:stall_at], T0 + FRAME / 360, FRAME / 360)
    burst = device.send(frames[stall_at:stall_at + 40], last + 3.0, 0.001)
    last = device.send(frames[stall_at + 40:], burst + 0.1, FRAME / 360)
    device.close(last)
    assert device.alerts() == []
    assert device.proc.gaps == 1  # the stall
    assert [(b.sample, b.label) for b in device.beats()] == [(b.sample, b.label) for b in reference.beats()]


def test_a_stall_the_device_reports_with_a_sequence_jump_restarts_cleanly(e100):
    counts, classifier = e100
    device = Device(classifier)
    frames = frames_of(counts)
    last = device.send(frames[:300], T0 + FRAME / 360, FRAME / 360)
    device.gap(30, last + 3.1)  # 30 frames lost, reported by the seq jump of the next frame
    device.send(frames[330:], last + 3.1, FRAME / 360)
    device.close(last + 3.1 + len(frames[330:]) * FRAME / 360)
    assert device.alerts() == []
    assert device.proc.gaps == 2  # the stall seen by the timer, then the sequence gap
    assert [s.extra["gap_frames"] for s in device.statuses() if "gap_frames" in s.extra] == [30]
    assert any(b.time > last + 4.0 for b in device.beats())


@pytest.mark.parametrize("drift", [0.02, -0.02])
def test_a_device_clock_off_by_two_percent_is_reported_and_raises_no_alert(e100, drift):
    """Frames of 36 samples arrive every 0.1 s / (1 + drift): the status says how far off the clock is.

    The excerpt (60 s) is about as long as the rate estimator needs for its first estimate, so
    the correction (``rate_correction``, specified in test_clock.py) starts at the very end if
    at all: the beats before it are those of the undisturbed run, and none is lost or added.
    """
    counts, classifier = e100
    reference = undisturbed(counts, classifier)
    device = Device(classifier)
    period = FRAME / 360 / (1 + drift)
    device.send(frames_of(counts), T0 + period, period)
    reported = [s.extra["rate_error"] for s in device.statuses() if s.extra.get("rate_error") is not None]
    assert reported and all(abs(r - drift) < 0.005 for r in reported), reported
    device.close(T0 + len(frames_of(counts)) * period)
    assert device.alerts() == []
    corrected = [s for s in device.statuses() if s.extra["rate_correction"]]
    assert all(s.extra["rate_correction"] == pytest.approx(drift, abs=1e-3) for s in corrected)
    since = min((s.time for s in corrected), default=float("inf")) - 2.0  # the last status before it came
    beats = device.beats()
    assert [b.label for b in beats] == [b.label for b in reference.beats()]
    assert [(b.sample, b.label) for b in beats if b.time < since] == \
        [(b.sample, b.label) for b, mine in zip(reference.beats(), beats) if mine.time < since]


def test_an_accurate_clock_reports_no_rate_error(e100):
    counts, classifier = e100
    device = undisturbed(counts, classifier)
    reported = [s.extra["rate_error"] for s in device.statuses() if s.extra.get("rate_error") is not None]
    assert reported and all(abs(r) < 0.005 for r in reported), reported


def test_a_dropped_connection_mid_beat_over_the_network_resumes_on_the_same_processor_without_alerts(e100):
    """The Wi-Fi drops (no close frame) 20 samples into a QRS; the device reconnects and streams on."""
    counts, classifier = e100
    peaks = [b.sample for b in undisturbed(counts, classifier).beats()]
    cut = peaks[20] + 20
    resume = cut + 2 * 360  # what the device could not send while it was away
    processors: list[StreamProcessor] = []
    sink = RecordingSink()

    def make(params, device, now):
        processors.append(StreamProcessor(STREAM, classifier, ProcessorConfig(), now))
        return processors[-1]

    async def scenario():
        server = IngestServer(ServerConfig(host="127.0.0.1", port=0, limits=LimitsConfig(rate_factor=0)),
                              {"kit1": DeviceConfig(patient="p1", token="t1", gain=REPLAY_GAIN)}, make, sink)
        port = await server.start()
        url = f"ws://127.0.0.1:{port}/v1/stream?device=kit1&token=t1"
        try:
            first = await connect(url)
            for seq, frame in enumerate(frames_of(counts[:cut])):
                await first.send(encode_frame(seq, frame))
            while server.counts["samples"] < cut:
                await asyncio.sleep(0.01)
            first.transport.abort()
            while server.stats(0)["devices"]:
                await asyncio.sleep(0.01)
            async with connect(url) as again:  # a new connection starts again at seq 0
                for seq, frame in enumerate(frames_of(counts[resume:])):
                    await again.send(encode_frame(seq, frame))
        finally:
            await server.close()

    asyncio.run(scenario())
    assert len(processors) == 1  # the reconnection continued the device's processor
    assert [e for e in sink.events if isinstance(e, Alert)] == []
    assert [s.extra["gap_frames"] for s in sink.events if isinstance(s, Status) and "gap_frames" in s.extra] == [0]
    beats = [e for e in sink.events if isinstance(e, Beat)]
    assert sum(b.sample > cut for b in beats) >= 0.8 * (counts.size - resume) / 360
    assert all(b.rr is None or b.rr < 2.0 for b in beats)
