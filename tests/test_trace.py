"""The live trace (gateway.service.trace): the conditioned signal, downsampled, in quarter-second frames."""

from __future__ import annotations

import json

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
