"""ecg-replay's signal: the record's preferred lead as the counts a kit would send, at the asked rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.signal.leads import read_record
from gateway.device import DeviceStream
from gateway.tools.replay import REPLAY_GAIN, record_counts, stream_url

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mitdb"


def test_counts_are_the_inverse_of_the_processors_conversion():
    counts, rate = record_counts(str(FIXTURES / "e100"), duration=10)
    mv = read_record(FIXTURES / "e100", sampto=3600).signal
    back = DeviceStream("d", "p", rate, gain=REPLAY_GAIN).counts_to_mv(counts)
    step = DeviceStream("d", "p", rate, gain=REPLAY_GAIN).mv_per_count
    assert rate == 360 and counts.size == 3600 and counts.dtype.kind == "i"
    assert np.abs(back - mv).max() <= step / 2 + 1e-12  # rounding to the nearest count only
    assert 0 <= counts.min() and counts.max() <= 4095


def test_the_preferred_lead_is_taken_by_name():
    # e114 has V5 first and MLII second: the replay must send MLII
    counts, _ = record_counts(str(FIXTURES / "e114"), duration=5)
    mlii = read_record(FIXTURES / "e114", sampto=1800)
    assert mlii.lead == "MLII"
    assert np.allclose(DeviceStream("d", "p", 360, gain=REPLAY_GAIN).counts_to_mv(counts), mlii.signal, atol=0.02)


def test_a_different_device_rate_resamples_the_same_duration():
    counts, rate = record_counts(str(FIXTURES / "e100"), rate=250, start=5, duration=8)
    assert rate == 250 and counts.size == 8 * 250


def test_the_declarations_go_in_the_query_and_the_form_follows_the_format():
    assert stream_url("ws://h:9000/v1/stream", 250, 12, "legacy") == \
        "ws://h:9000/v1/stream?rate=250&bits=12&format=legacy"
    assert stream_url("ws://h/v1/stream?x=1", 360, 10, "text").endswith("&rate=360&bits=10&format=batch")
