"""The live trace (gateway.service.trace): the conditioned signal, downsampled, in quarter-second frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gateway.service.trace import FRAME_S, TraceTap


def collect(hz: int = 120, start: float = 1000.0) -> tuple[TraceTap, list[dict]]:
    frames: list[dict] = []
    return TraceTap("kit1", start, hz, lambda payload: frames.append(json.loads(payload))), frames


def test_samples_are_averaged_to_the_trace_rate_in_microvolts_and_framed_every_quarter_second():
    tap, frames = collect(120)
    y = np.repeat(np.arange(360) / 1000.0, 1)  # 1 s of a ramp, mV
    tap(0, y)
    assert [len(f["uv"]) for f in frames] == [30, 30, 30, 30]  # 120 Hz x 0.25 s
    assert all(f["hz"] == 120 and f["device_id"] == "kit1" for f in frames)
    assert frames[0]["uv"][:3] == [1, 4, 7]  # means of (0,1,2), (3,4,5), (6,7,8) µV
    # each value stands at the centre of its three samples; frames follow each other by FRAME_S
    assert frames[0]["t"] == pytest.approx(1000.0 + 1 / 360, abs=1e-4)
    assert np.allclose(np.diff([f["t"] for f in frames]), FRAME_S)


def test_frames_do_not_depend_on_how_the_samples_were_chunked():
    y = np.sin(np.arange(3600) / 20.0)
    whole, whole_frames = collect()
    whole(0, y)
    pieces, piece_frames = collect()
    at = 0
    for n in [1, 7, 100, 2, 500, 1000, 1990]:
        pieces(at, y[at:at + n])
        at += n
    assert piece_frames == whole_frames


def test_a_gap_sends_what_is_pending_and_no_frame_spans_it():
    tap, frames = collect()
    tap(0, np.zeros(100))  # 33 values: one whole frame, 3 pending, one sample held
    tap(3600, np.zeros(90))  # 10 s later: the 3 go out alone, then a new frame starts at the new sample
    assert [len(f["uv"]) for f in frames] == [30, 3, 30]
    assert frames[-1]["t"] == pytest.approx(1000.0 + 10 + 1 / 360, abs=1e-4)


def test_a_real_gateway_publishes_the_trace_only_when_enabled(tmp_path, mosquitto, subscribe):
    import asyncio

    from gateway.tools.localbroker import free_port
    from gateway.tools.replay import REPLAY_GAIN, record_counts, replay
    from gateway.tools.supervise import DemoDevice, GatewayProcess, write_config

    fixtures = Path(__file__).resolve().parent / "fixtures"
    kit = DemoDevice("kit1", "p1", "token-one", gain=REPLAY_GAIN)
    counts, rate = record_counts(str(fixtures / "mitdb" / "e100"), duration=12, gain=kit.gain)
    sub = subscribe(["ecg/p1/trace"])
    for trace in (False, True):
        port = free_port()
        config = write_config(tmp_path / f"gw-{trace}.toml", ws_port=port, mqtt_port=mosquitto.port,
                              state_dir=tmp_path / "state", devices=[kit],
                              sections={"server.limits": {"rate_factor": 0}, "mqtt": {"trace": trace},
                                        "model": {"path": str(fixtures / "models" / "tiny.tflite")}})
        gateway = GatewayProcess(config, tmp_path / f"gw-{trace}.log")
        gateway.start()
        try:
            asyncio.run(replay(f"ws://127.0.0.1:{port}/v1/stream", kit.device_id, kit.token, counts, rate, speed=6))
        finally:
            assert gateway.stop() == 0
        frames = [json.loads(m.payload) for m in sub.drain(1.0)]
        if not trace:
            assert frames == []
            continue
        assert all(f["hz"] == 120 and f["device_id"] == "kit1" for f in frames)
        values = np.concatenate([f["uv"] for f in frames])
        assert 0.9 * 12 * 120 < values.size <= 12 * 120  # every conditioned sample, less the filters' tail
        assert np.allclose(np.diff([f["t"] for f in frames]), FRAME_S, atol=1e-3)  # one stretch, no gap
        assert 500 < np.percentile(values, 99.9) < 3000  # R peaks of a few hundred µV to a few mV, not counts
