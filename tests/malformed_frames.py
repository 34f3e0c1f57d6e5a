"""A seeded fuzz campaign against a running ingest server: malformed frames beside a device that streams well.

Shared by ``tests/test_reliability_bad_input.py`` and ``python -m bench.soak
--fuzz`` (the same 100,000 frames, figures printed; ``--frames`` for more).  Everything goes over real WebSocket
connections on loopback to an :class:`gateway.service.server.IngestServer` that
drives real :class:`gateway.processor.StreamProcessor` instances; the
classifier answers with the reference annotations of the streamed excerpt,
so the well-behaved device's beats and alerts can be compared exactly with
an undisturbed offline run of the same samples.

Every generated frame is malformed *by construction* (the generator never
relies on luck): the campaign then checks that the server counted and
answered each one.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.service.config import DeviceConfig, LimitsConfig, ServerConfig
from gateway.events import Alert, Beat
from gateway.device import DeviceStream
from gateway.processor import ProcessorConfig, StreamProcessor
from gateway.service.protocol import HEADER, MAGIC, MAX_COUNT, SEQ_MOD, encode_frame, encode_json_frame
from gateway.tools.replay import REPLAY_GAIN, record_counts
from gateway.service.server import IngestServer
from reference_classifier import FIXTURES, ReferenceClassifier
from test_server import RecordingSink

FUZZ_DEVICE = ("fuzz", "p-fuzz", "fuzz-token")
GOOD_DEVICE = ("good", "p-good", "good-token")
BITS = 12
#: Handshake declarations the server must refuse with HTTP 400.
ABSURD_HANDSHAKES = ("rate=0", "rate=-360", "rate=49", "rate=10001", "rate=999999999", "rate=1e3", "rate=NaN",
                     "rate=360.5", "rate=%20", "bits=0", "bits=16", "bits=-1", "format=xml", "leadoff=2")
#: After the campaign's one valid frame (seq 0), the next expected seq is 1.
NEXT_SEQ = 1


def _header(seq: int, count: int, *, magic: int = MAGIC, version: int = 1, flags: int = 0, reserved: int = 0,
            reserved2: int = 0) -> bytes:
    return HEADER.pack(magic, version, flags, reserved, seq % SEQ_MOD, count, reserved2)


def _samples(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**BITS, n)


def _forward_seq(rng: np.random.Generator) -> int:
    return int(rng.integers(NEXT_SEQ, NEXT_SEQ + 1000))


def _binary(rng: np.random.Generator, samples: np.ndarray, seq: int | None = None, **header) -> bytes:
    seq = _forward_seq(rng) if seq is None else seq
    return _header(seq, samples.size, **header) + samples.astype("<i2").tobytes()


def _random_bytes(rng: np.random.Generator) -> bytes | str:
    data = bytearray(rng.bytes(int(rng.integers(1, 600))))
    if data[0] == MAGIC:
        data[0] ^= 0xFF
    return bytes(data)


def _empty(rng: np.random.Generator) -> bytes | str:
    return b"" if rng.random() < 0.5 else ""


def _short_header(rng: np.random.Generator) -> bytes | str:
    return _header(_forward_seq(rng), 1)[:int(rng.integers(1, HEADER.size))]


def _bad_magic(rng: np.random.Generator) -> bytes | str:
    return _binary(rng, _samples(rng, 8), magic=int(rng.choice([m for m in range(256) if m != MAGIC])))


def _wrong_version_binary(rng: np.random.Generator) -> bytes | str:
    return _binary(rng, _samples(rng, 8), version=int(rng.choice([0, *range(2, 256)])))


def _wrong_version_json(rng: np.random.Generator) -> bytes | str:
    return json.dumps({"v": int(rng.choice([0, 2, 99, -1])), "seq": _forward_seq(rng), "n": 1, "s": [1]})


def _reserved_bits(rng: np.random.Generator) -> bytes | str:
    which = rng.integers(3)
    kw = ({"flags": int(rng.integers(4, 256))}, {"reserved": int(rng.integers(1, 256))},
          {"reserved2": int(rng.integers(1, 65536))})[which]
    return _binary(rng, _samples(rng, 8), **kw)


def _bad_count(rng: np.random.Generator) -> bytes | str:
    count = int(rng.choice([0, MAX_COUNT + 1, 4000, 65535]))
    return _header(_forward_seq(rng), count) + _samples(rng, min(count, 64)).astype("<i2").tobytes()


def _length_mismatch(rng: np.random.Generator) -> bytes | str:
    n = int(rng.integers(2, 100))
    frame = _binary(rng, _samples(rng, n))
    return frame[:-int(rng.integers(1, 2 * n))] if rng.random() < 0.5 else frame + rng.bytes(int(rng.integers(1, 9)))


def _out_of_range_binary(rng: np.random.Generator) -> bytes | str:
    samples = _samples(rng, int(rng.integers(1, 200)))
    samples[rng.integers(samples.size)] = int(rng.choice([-1, -32768, 2**BITS, 32767]))
    return _binary(rng, samples)


def _out_of_range_json(rng: np.random.Generator) -> bytes | str:
    values = _samples(rng, int(rng.integers(1, 50))).tolist()
    values[int(rng.integers(len(values)))] = int(rng.choice([-1, 2**BITS, 10**12]))
    return encode_json_frame(_forward_seq(rng), np.array(values))


def _nan_like(rng: np.random.Generator) -> bytes | str:
    token = str(rng.choice(["NaN", "Infinity", "-Infinity", '"NaN"', "1e3", "2047.5", "null", "true", "[]"]))
    return f'{{"v":1,"seq":{_forward_seq(rng)},"flags":0,"n":2,"s":[2047,{token}]}}'


def _non_numeric_text(rng: np.random.Generator) -> bytes | str:
    choices = ["abc", "12a", "{}", "[]", "null", '"2047"', "{'v':1}", "\x00\x01", "{" * 50, "\u00e9\u2603" * 10,
               '{"v":1,"seq":1,"n":1,"s":[1],"extra":0}', '{"v":"1","seq":1,"n":1,"s":[1]}',
               '{"v":1,"seq":"one","n":1,"s":[1]}', '{"v":1,"seq":1,"n":3,"s":[1]}', '{"v":1,"seq":-5,"n":1,"s":[1]}',
               '{"v":1,"seq":1,"n":1,"s":"2047"}', '{"v":1,"seq":1,"n":0,"s":[]}']
    text = str(rng.choice(choices))
    if rng.random() < 0.3:  # a valid frame's text, cut short
        whole = encode_json_frame(_forward_seq(rng), _samples(rng, 10))
        text = whole[:int(rng.integers(1, len(whole) - 1))]
    return text


def _seq_backwards(rng: np.random.Generator) -> bytes | str:
    seq = 0 if rng.random() < 0.3 else int(rng.integers(SEQ_MOD // 2 + NEXT_SEQ, SEQ_MOD))
    samples = _samples(rng, 36)
    return _binary(rng, samples, seq=seq) if rng.random() < 0.7 else encode_json_frame(seq, samples)


GENERATORS = (_random_bytes, _empty, _short_header, _bad_magic, _wrong_version_binary, _wrong_version_json,
              _reserved_bits, _bad_count, _length_mismatch, _out_of_range_binary, _out_of_range_json, _nan_like,
              _non_numeric_text, _seq_backwards)


def malformed_frames(rng: np.random.Generator, n: int) -> list[bytes | str]:
    """``n`` frames, each malformed for a connection whose only valid frame so far had seq 0."""
    kinds = rng.integers(len(GENERATORS), size=n)
    return [GENERATORS[k](rng) for k in kinds]


# -- the campaign --------------------------------------------------------------------------------

def rss_mib() -> float:
    """Resident memory of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def outcome(events: list, start_time: float) -> tuple[list, list]:
    """What a device's stream produced, independent of when it started: beats and alerts."""
    beats = [(e.sample, e.label) for e in events if isinstance(e, Beat)]
    alerts = [(e.type, e.state, round(e.start - start_time, 3)) for e in events if isinstance(e, Alert)]
    return beats, alerts


@dataclass
class CampaignResult:
    frames: int = 0  # malformed frames sent on open connections
    replies: int = 0  # JSON error replies received
    reply_errors_without_reason: int = 0
    counted: int = 0  # the server's bad_frames counter
    connections: int = 0  # fuzz connections, each with one valid one-sample frame first
    samples_accepted: int = 0  # the server's samples counter (both devices)
    unexpected_closes: list = field(default_factory=list)
    huge_closes: list = field(default_factory=list)
    handshake_statuses: list = field(default_factory=list)
    rss_start: float = 0.0
    rss_mid: float = 0.0
    rss_end: float = 0.0
    seconds: float = 0.0
    good_samples_sent: int = 0
    good_outcome: tuple = ((), ())
    reference_outcome: tuple = ((), ())
    good_bad_frames: int = 0
    good_gaps: int = 0


async def _fuzz_connection(url: str, frames: list, result: CampaignResult) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.send(encode_frame(0, np.array([2048])))  # one valid frame: now seq must move forward from 1

        async def read() -> None:
            for _ in range(len(frames)):
                reply = json.loads(await ws.recv())
                result.replies += 1
                if not (isinstance(reply.get("error"), str) and reply["error"] and "seq" in reply):
                    result.reply_errors_without_reason += 1

        reader = asyncio.create_task(read())
        try:
            for frame in frames:
                await ws.send(frame)
                result.frames += 1
            await reader
        except ConnectionClosed:
            result.unexpected_closes.append(ws.close_code)
            reader.cancel()


async def _huge(url: str, rng: np.random.Generator, max_bytes: int) -> int | None:
    async with connect(url, max_size=None) as ws:
        size = int(rng.integers(max_bytes + 1, 4 * max_bytes))
        await ws.send(rng.bytes(size) if rng.random() < 0.5 else "9" * size)
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
        return ws.close_code


async def _handshake(url: str) -> int:
    try:
        async with connect(url):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


async def _campaign(n_frames: int, seed: int, connections: int, good_seconds: float, classifier) -> CampaignResult:
    rng = np.random.default_rng(seed)
    result = CampaignResult()
    devices = {d[0]: DeviceConfig(patient=d[1], token=d[2], gain=REPLAY_GAIN) for d in (FUZZ_DEVICE, GOOD_DEVICE)}
    starts: dict[str, float] = {}
    processors: dict[str, StreamProcessor] = {}

    def make(params, device, now):
        stream = DeviceStream(params.device_id, device.patient, params.rate, params.bits, params.lead_off,
                              device.gain, device.vref, device.zero)
        starts[params.device_id] = now
        processors[params.device_id] = StreamProcessor(stream, classifier, ProcessorConfig(), now)
        return processors[params.device_id]

    max_bytes = 8192
    config = ServerConfig(host="127.0.0.1", port=0, max_frame_bytes=max_bytes,
                          limits=LimitsConfig(bad_frames=100_000, rate_factor=0))
    sink = RecordingSink()
    server = IngestServer(config, devices, make, sink)
    port = await server.start()
    base = f"ws://127.0.0.1:{port}/v1/stream"
    fuzz_url = f"{base}?device={FUZZ_DEVICE[0]}&token={FUZZ_DEVICE[2]}"
    counts, rate = record_counts(str(FIXTURES / "e233"), duration=good_seconds, gain=REPLAY_GAIN)
    result.good_samples_sent = counts.size

    async def good_device() -> None:
        async with connect(f"{base}?device={GOOD_DEVICE[0]}&token={GOOD_DEVICE[2]}") as ws:
            offsets = range(0, counts.size, 36)
            for seq, i in enumerate(offsets):
                while result.frames < seq * n_frames / len(offsets):  # spread over the whole campaign
                    await asyncio.sleep(0.002)
                await ws.send(encode_frame(seq, counts[i:i + 36]))

    async def fuzzing() -> None:
        per = -(-n_frames // connections)
        result.rss_start = rss_mib()
        for c in range(connections):
            frames = malformed_frames(rng, min(per, n_frames - c * per))
            await _fuzz_connection(fuzz_url, frames, result)
            result.connections += 1
            if c == connections // 2 - 1:
                result.rss_mid = rss_mib()
        for _ in range(8):
            result.huge_closes.append(await _huge(fuzz_url, rng, max_bytes))
        for query in ABSURD_HANDSHAKES:
            result.handshake_statuses.append(
                await _handshake(f"{base}?device={FUZZ_DEVICE[0]}&token={FUZZ_DEVICE[2]}&{query}"))
        result.rss_end = rss_mib()

    started = time.monotonic()
    try:
        await asyncio.gather(good_device(), fuzzing())
    finally:
        result.counted = int(server.counts["bad_frames"])
        result.samples_accepted = int(server.counts["samples"])
        await server.close()
    result.seconds = time.monotonic() - started
    good = processors[GOOD_DEVICE[0]]
    result.good_bad_frames, result.good_gaps = good.bad_frames, good.gaps
    good_events = [e for e in sink.events if getattr(e, "device_id", None) == GOOD_DEVICE[0]]
    result.good_outcome = outcome(good_events, starts[GOOD_DEVICE[0]])
    reference = StreamProcessor(good.stream, classifier, ProcessorConfig(), 0.0)
    result.reference_outcome = outcome(reference.feed(counts, counts.size / rate) + reference.close(counts.size / rate),
                                       0.0)
    return result


def run_campaign(n_frames: int, seed: int = 7, connections: int = 10, good_seconds: float = 40.0) -> CampaignResult:
    """Fuzz the server with ``n_frames`` malformed frames over ``connections`` connections (plus 8 oversized
    frames and the absurd handshakes) while a second device streams ``good_seconds`` of e233."""
    stream = DeviceStream(GOOD_DEVICE[0], GOOD_DEVICE[1], 360, BITS, gain=REPLAY_GAIN)
    classifier = ReferenceClassifier("e233", stream)
    return asyncio.run(_campaign(n_frames, seed, connections, good_seconds, classifier))
