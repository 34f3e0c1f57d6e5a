"""The WebSocket ingest server over real connections, with a stand-in processor that records its calls."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.service.config import DeviceConfig, LimitsConfig, ServerConfig
from gateway.service.protocol import encode_frame, encode_json_frame
from gateway.service import server as server_module
from gateway.service.server import IngestServer

DEVICES = {"kit1": DeviceConfig(patient="p1", token="secret-1"), "kit2": DeviceConfig(patient="p2", token="secret-2")}


class RecordingProcessor:
    """Stand-in for StreamProcessor: remembers every call; ``feed_delay`` imitates a slow model."""

    def __init__(self, params, device, start_time, feed_delay=0.0):
        self.params, self.device, self.start_time = params, device, start_time
        self.calls: list[tuple] = []
        self.feed_delay = feed_delay

    def feed(self, samples, now, lead_off=False):
        time.sleep(self.feed_delay)
        self.calls.append(("feed", samples.tolist(), lead_off))
        return []

    def gap(self, missing_frames, now):
        self.calls.append(("gap", missing_frames))
        return []

    def tick(self, now):
        return []

    def close(self, now):
        self.calls.append(("close",))
        return []

    def note_bad_frame(self):
        self.calls.append(("bad_frame",))

    def fed(self) -> list[int]:
        return [v for c in self.calls if c[0] == "feed" for v in c[1]]


class RecordingSink:
    def __init__(self):
        self.online: list[tuple[str, bool]] = []
        self.events: list = []

    def publish_events(self, patient, events):
        self.events += events

    def device_online(self, patient, online):
        self.online.append((patient, online))


class Harness:
    """An IngestServer on a free port with recording processors."""

    def __init__(self, limits: LimitsConfig = LimitsConfig(), feed_delay: dict[str, float] | None = None,
                 threads: int = 1, max_frame_bytes: int = 8192):
        self.processors: list[RecordingProcessor] = []
        self.sink = RecordingSink()
        self.feed_delay = feed_delay or {}
        config = ServerConfig(host="127.0.0.1", port=0, limits=limits, max_frame_bytes=max_frame_bytes,
                              legacy_rate=250, processing_threads=threads)
        self.server = IngestServer(config, DEVICES, self._make, self.sink)

    def _make(self, params, device, now):
        p = RecordingProcessor(params, device, now, self.feed_delay.get(params.device_id, 0.0))
        self.processors.append(p)
        return p

    async def __aenter__(self):
        self.port = await self.server.start()
        return self

    async def __aexit__(self, *exc):
        await self.server.close()

    def url(self, device="kit1", token="secret-1", **query) -> str:
        q = "&".join(f"{k}={v}" for k, v in {"device": device, "token": token, **query}.items())
        return f"ws://127.0.0.1:{self.port}/v1/stream?{q}"

    async def settle(self, predicate=lambda: True, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.01)


def run(coro):
    return asyncio.run(coro)


def frames(n_frames: int, per_frame: int = 36, start: int = 0) -> list[np.ndarray]:
    values = (np.arange(n_frames * per_frame) + start) % 4096
    return [values[i * per_frame:(i + 1) * per_frame] for i in range(n_frames)]


@pytest.mark.parametrize("device,token,status", [("kit1", "wrong", 401), ("nobody", "secret-1", 401),
                                                  ("kit1", "", 401)])
def test_a_wrong_token_or_unknown_device_is_refused_before_the_socket_opens(device, token, status):
    async def scenario():
        async with Harness() as h:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(h.url(device, token)):
                    pass
            assert refused.value.response.status_code == status
            assert h.processors == []

    run(scenario())


@pytest.mark.parametrize("query,reason", [({"rate": "abc"}, "rate"), ({"rate": "20"}, "rate"),
                                          ({"bits": "16"}, "bits"), ({"format": "csv"}, "format"),
                                          ({"leadoff": "yes"}, "leadoff")])
def test_a_bad_declaration_is_refused_with_400_and_the_reason(query, reason):
    async def scenario():
        async with Harness() as h:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(h.url(**query)):
                    pass
            assert refused.value.response.status_code == 400
            assert refused.value.response.body.decode().startswith(reason)

    run(scenario())


def test_headers_declare_the_stream_and_win_over_the_query():
    async def scenario():
        async with Harness() as h:
            headers = {"X-ECG-Device": "kit1", "X-ECG-Token": "secret-1", "X-ECG-Rate": "500", "X-ECG-Bits": "10",
                       "X-ECG-Leadoff": "1"}
            async with connect(h.url("kit2", "secret-2", rate=250), additional_headers=headers) as ws:
                await ws.send(encode_frame(0, np.array([1, 2, 3]), flags=1))
                await h.settle(lambda: h.processors and h.processors[0].calls)
            p = h.processors[0].params
            assert (p.device_id, p.rate, p.bits, p.lead_off) == ("kit1", 500, 10, True)
            assert h.processors[0].calls[0] == ("feed", [1, 2, 3], True)

    run(scenario())


def test_binary_and_json_frames_reach_the_processor_in_order():
    sent = frames(20)

    async def scenario():
        async with Harness() as h:
            async with connect(h.url()) as ws:
                for seq, samples in enumerate(sent):
                    await ws.send(encode_frame(seq, samples) if seq % 2 else encode_json_frame(seq, samples))
            await h.settle(lambda: h.processors[0].calls[-1:] == [("close",)])
            assert h.processors[0].fed() == np.concatenate(sent).tolist()
            assert h.sink.online == [("p1", True), ("p1", False)]

    run(scenario())


def test_legacy_one_integer_per_frame_uses_the_declared_or_configured_rate():
    async def scenario():
        async with Harness() as h:
            async with connect(h.url(format="legacy")) as ws:
                for v in range(300):
                    await ws.send(str(1000 + v))
            async with connect(h.url("kit2", "secret-2", format="legacy", rate=360)) as ws:
                await ws.send("5")
            await h.settle(lambda: all(p.calls[-1:] == [("close",)] for p in h.processors))
            first, second = h.processors
            assert first.params.rate == 250 and second.params.rate == 360
            assert first.fed() == [1000 + v for v in range(300)]

    run(scenario())


def test_a_sequence_jump_is_handed_to_the_processor_as_a_gap_before_the_next_samples():
    async def scenario():
        async with Harness() as h:
            async with connect(h.url()) as ws:
                await ws.send(encode_frame(0, np.array([1])))
                await ws.send(encode_frame(4, np.array([2])))  # frames 1, 2, 3 lost
            await h.settle(lambda: h.processors[0].calls[-1:] == [("close",)])
            assert h.processors[0].calls == [("feed", [1], False), ("gap", 3), ("feed", [2], False), ("close",)]

    run(scenario())


def test_a_malformed_frame_gets_a_json_error_and_another_device_is_unaffected():
    good = frames(30)

    async def scenario():
        async with Harness() as h:
            async with connect(h.url()) as bad, connect(h.url("kit2", "secret-2")) as other:
                for seq, samples in enumerate(good):
                    await other.send(encode_frame(seq, samples))
                    if seq == 10:
                        await bad.send(b"\x00" + encode_frame(0, np.array([1]))[1:])  # bad magic
                        assert json.loads(await bad.recv()) == {"error": "bad magic 0x00, expected 0xEC", "seq": None}
                        await bad.send(encode_json_frame(7, np.array([5000])))  # out of the 12-bit range
                        reply = json.loads(await bad.recv())
                        assert reply["seq"] == 7 and "outside the 12-bit ADC range" in reply["error"]
            await h.settle(lambda: all(p.calls[-1:] == [("close",)] for p in h.processors))
            by_device = {p.params.device_id: p for p in h.processors}
            assert by_device["kit2"].fed() == np.concatenate(good).tolist()
            assert by_device["kit1"].fed() == []
            assert by_device["kit1"].calls.count(("bad_frame",)) == 2  # counted in kit1's status
            assert ("bad_frame",) not in by_device["kit2"].calls

    run(scenario())


def test_too_many_bad_frames_close_the_connection_with_4003():
    async def scenario():
        async with Harness(LimitsConfig(bad_frames=5)) as h:
            async with connect(h.url()) as ws:
                for _ in range(6):
                    await ws.send(b"junk")
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.recv()
                assert ws.close_code == 4003

    run(scenario())


def test_a_frame_over_the_size_limit_closes_with_1009():
    async def scenario():
        async with Harness(max_frame_bytes=1024) as h:
            async with connect(h.url(), max_size=None) as ws:
                await ws.send(encode_frame(0, np.zeros(1000, dtype=int)))  # 2012 bytes
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1009

    run(scenario())


def test_a_device_sending_faster_than_allowed_is_closed_with_4029():
    async def scenario():
        async with Harness(LimitsConfig(rate_factor=1.5, rate_window=0.5)) as h:
            async with connect(h.url()) as ws:  # 360 Hz declared: at most 270 samples per 0.5 s
                with pytest.raises(ConnectionClosed):
                    for seq in range(10):
                        await ws.send(encode_frame(seq, np.zeros(100, dtype=int)))
                        await asyncio.sleep(0.01)
                    await ws.recv()
                assert ws.close_code == 4029

    run(scenario())


def test_a_reconnecting_device_replaces_its_old_connection_and_keeps_its_processor():
    async def scenario():
        async with Harness() as h:
            first = await connect(h.url())
            await first.send(encode_frame(0, np.array([1, 2])))
            await h.settle(lambda: h.processors and h.processors[0].calls)
            async with connect(h.url()) as second:
                await second.send(encode_frame(0, np.array([3, 4])))
                with pytest.raises(ConnectionClosed):
                    await first.recv()
                assert first.close_code == 4009
            await h.settle(lambda: h.processors[0].calls[-1:] == [("close",)])
            assert len(h.processors) == 1
            assert h.processors[0].calls == [("feed", [1, 2], False), ("gap", 0), ("feed", [3, 4], False), ("close",)]

    run(scenario())


def test_a_dropped_connection_keeps_the_processor_for_the_reconnection():
    async def scenario():
        async with Harness() as h:
            ws = await connect(h.url())
            await ws.send(encode_frame(0, np.array([1])))
            await h.settle(lambda: h.processors and h.processors[0].calls)
            ws.transport.abort()  # no close frame: the Wi-Fi dropped
            await h.settle(lambda: h.server.stats(0)["devices"] == 0)
            assert ("close",) not in h.processors[0].calls
            async with connect(h.url()) as again:
                await again.send(encode_frame(0, np.array([2])))
            await h.settle(lambda: h.processors[0].calls[-1:] == [("close",)])
            assert len(h.processors) == 1 and h.processors[0].fed() == [1, 2]

    run(scenario())


def test_shutdown_closes_devices_with_1001_and_finishes_their_processors():
    async def scenario():
        h = Harness()
        await h.__aenter__()
        ws = await connect(h.url())
        await ws.send(encode_frame(0, np.array([1])))
        await h.settle(lambda: h.processors and h.processors[0].calls)
        await h.__aexit__(None, None, None)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1001
        assert h.processors[0].calls[-1] == ("close",)

    run(scenario())


def test_a_slow_processor_does_not_hold_up_another_device_or_the_event_loop():
    """kit1's 'model' takes 0.3 s per frame; kit2's frames are still processed at once."""
    async def scenario():
        async with Harness(feed_delay={"kit1": 0.3}, threads=2) as h:
            async with connect(h.url()) as slow, connect(h.url("kit2", "secret-2")) as fast:
                for seq in range(5):
                    await slow.send(encode_frame(seq, np.array([seq, seq])))
                await asyncio.sleep(0.05)  # kit1's job has started
                started = time.monotonic()
                worst_tick = 0.0
                for seq in range(20):
                    t = time.monotonic()
                    await fast.send(encode_frame(seq, np.array([seq, seq])))
                    await asyncio.sleep(0.01)
                    worst_tick = max(worst_tick, time.monotonic() - t)
                by_device = {p.params.device_id: p for p in h.processors}
                await h.settle(lambda: len(by_device["kit2"].fed()) == 40)
                elapsed = time.monotonic() - started
                slow_done = len(by_device["kit1"].calls)
            assert elapsed < 0.9 and slow_done < 5  # kit2 finished while kit1 was still busy
            assert worst_tick < 0.15

    run(scenario())


def test_frames_wait_in_the_socket_rather_than_being_dropped_when_the_processor_is_slow(monkeypatch):
    monkeypatch.setattr(server_module, "QUEUE_FRAMES", 4)  # the queue is full almost at once
    sent = frames(700, per_frame=2)

    async def scenario():
        async with Harness(feed_delay={"kit1": 0.0005}) as h:
            async with connect(h.url()) as ws:
                for seq, samples in enumerate(sent):
                    await ws.send(encode_frame(seq, samples))
            await h.settle(lambda: h.processors[0].calls[-1:] == [("close",)], timeout=30)
            assert h.processors[0].fed() == np.concatenate(sent).tolist()

    run(scenario())



def test_the_lag_says_how_far_processing_is_behind_the_arrival_of_frames():
    async def scenario():
        async with Harness(feed_delay={"kit1": 0.2}) as h:
            async with connect(h.url()) as ws:
                assert h.server.stats(time.time())["lag"] == 0.0
                for seq in range(5):  # one second of processing for frames that arrive at once
                    await ws.send(encode_frame(seq, np.array([seq, seq])))
                await asyncio.sleep(0.6)
                assert 0.4 < h.server.stats(time.time())["lag"] < 1.0
                await h.settle(lambda: len(h.processors[0].calls) == 5, timeout=5)
                await asyncio.sleep(0.05)
                assert h.server.stats(time.time())["lag"] == 0.0

    run(scenario())
