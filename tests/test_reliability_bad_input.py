"""Bad input: a seeded fuzz campaign of malformed frames against a running ingest server.

The test sends 100,000 malformed frames (plus oversized frames and absurd
handshakes) over real loopback WebSocket connections, about 10 s here;
``python -m bench.soak --fuzz`` runs the same campaign and prints its figures.
The per-connection limits (4003, 1009, 4029) have their own tests in
test_server.py; here the bad-frame limit is raised so that many frames
travel per connection.
"""

from __future__ import annotations

import pytest

import numpy as np

from gateway.service.protocol import FrameDecoder, FrameError, StreamParams, encode_frame
from malformed_frames import ABSURD_HANDSHAKES, GENERATORS, malformed_frames, run_campaign


@pytest.fixture(scope="module")
def campaign():
    return run_campaign(100_000, seed=7, connections=10)


def test_every_generator_makes_frames_the_decoder_refuses():
    """The fuzzer's frames are malformed by construction, not by luck (each kind, many draws)."""
    rng = np.random.default_rng(1)
    for make in GENERATORS:
        for _ in range(300):
            decoder = FrameDecoder(StreamParams("d", "t", bits=12))
            decoder.decode(encode_frame(0, np.array([2048])))  # the campaign's one valid frame
            with pytest.raises(FrameError):
                decoder.decode(make(rng))


def test_the_frame_mix_covers_every_kind_of_bad_input():
    frames = malformed_frames(np.random.default_rng(2), 2000)
    assert any(f == b"" or f == "" for f in frames)
    assert sum(isinstance(f, str) for f in frames) > 300 and sum(isinstance(f, bytes) for f in frames) > 300


def test_every_malformed_frame_is_counted_and_answered_and_the_connection_stays_open(campaign):
    assert campaign.frames == 100_000
    assert campaign.unexpected_closes == []
    assert campaign.replies == campaign.frames and campaign.reply_errors_without_reason == 0
    assert campaign.counted == campaign.frames


def test_oversized_frames_close_with_1009_and_absurd_handshakes_get_400(campaign):
    assert campaign.huge_closes == [1009] * len(campaign.huge_closes) and campaign.huge_closes
    assert campaign.handshake_statuses == [400] * len(ABSURD_HANDSHAKES)


def test_memory_does_not_grow_with_the_number_of_bad_frames(campaign):
    """RSS after the second 50,000 frames is within a few MiB of RSS after the first 50,000."""
    assert campaign.rss_end - campaign.rss_mid < 8.0, (campaign.rss_start, campaign.rss_mid, campaign.rss_end)


def test_a_device_streaming_alongside_loses_no_sample_beat_or_alert(campaign):
    """Its beats and alerts are exactly those of an undisturbed offline run of the same samples."""
    assert campaign.samples_accepted == campaign.good_samples_sent + campaign.connections
    beats, alerts = campaign.good_outcome
    assert (beats, alerts) == campaign.reference_outcome
    assert any(kind == "ventricular_run" for kind, _, _ in alerts)  # e233's run at 27.7 s is in there
    assert campaign.good_bad_frames == 0 and campaign.good_gaps == 0
