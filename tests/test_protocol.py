"""Stream protocol v1 (firmware/PROTOCOL.md): handshakes, frames, sequence numbers, limits."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.service.protocol import HEADER, MAX_COUNT, FrameDecoder, FrameError, HandshakeError, SlidingCounter, \
    StreamParams, encode_frame, encode_json_frame, parse_handshake


def decoder(**kw) -> FrameDecoder:
    return FrameDecoder(StreamParams("kit1", "t", **kw))


# -- handshake ---------------------------------------------------------------------------------

def test_the_query_declares_device_token_and_stream():
    p = parse_handshake("/v1/stream?device=kit1&token=abc&rate=250&bits=10&leadoff=1", {}, legacy_rate=360)
    assert (p.device_id, p.token, p.rate, p.bits, p.lead_off, p.format) == ("kit1", "abc", 250, 10, True, "batch")


def test_defaults_are_360_hz_12_bits_no_lead_off_batch():
    p = parse_handshake("/v1/stream?device=kit1&token=abc", {}, legacy_rate=200)
    assert (p.rate, p.bits, p.lead_off, p.format) == (360, 12, False, "batch")


def test_the_legacy_form_without_a_rate_uses_the_configured_legacy_rate():
    p = parse_handshake("/v1/stream?device=kit1&token=abc&format=legacy", {}, legacy_rate=200)
    assert (p.format, p.rate) == ("legacy", 200)


def test_headers_win_over_the_query():
    p = parse_handshake("/v1/stream?device=a&token=b&rate=100", {"X-ECG-Device": "kit9", "X-ECG-Rate": "500"}, 360)
    assert (p.device_id, p.token, p.rate) == ("kit9", "b", 500)


@pytest.mark.parametrize("path,status,words", [
    ("/v1/stream?token=abc", 401, "required"),
    ("/v1/stream?device=kit1", 401, "required"),
    ("/v1/stream?device=bad/id&token=x", 400, "device"),
    ("/v1/stream?device=kit1&token=x&rate=49", 400, "rate: 49 is outside 50..10000"),
    ("/v1/stream?device=kit1&token=x&rate=3.5", 400, "rate: expected a whole number"),
    ("/v1/stream?device=kit1&token=x&bits=7", 400, "bits: 7 is outside 8..15"),
    ("/v1/stream?device=kit1&token=x&bits=16", 400, "bits: 16 is outside 8..15"),
    ("/v1/stream?device=kit1&token=x&format=raw", 400, "format"),
    ("/v1/stream?device=kit1&token=x&leadoff=2", 400, "leadoff"),
    ("/stream?device=kit1&token=x", 404, "unknown path"),
])
def test_bad_handshakes_are_refused_with_the_status_and_a_reason(path, status, words):
    with pytest.raises(HandshakeError) as e:
        parse_handshake(path, {}, 360)
    assert e.value.status == status and words in e.value.reason


def test_the_token_is_compared_exactly_and_never_shown():
    p = parse_handshake("/v1/stream?device=kit1&token=s3cret", {}, 360)
    assert p.token_matches("s3cret") and not p.token_matches("s3cre") and not p.token_matches("s3cret ")
    assert "s3cret" not in repr(p)


# -- frames ------------------------------------------------------------------------------------

@given(st.lists(st.integers(0, 4095), min_size=1, max_size=MAX_COUNT), st.integers(0, 2**32 - 1),
       st.sampled_from([0, 1, 2, 3]), st.booleans())
def test_a_frame_decodes_to_what_was_encoded(samples, seq, flags, as_json):
    d = decoder()
    d._next_seq = seq  # continue a stream that has reached this sequence number
    message = encode_json_frame(seq, np.array(samples), flags) if as_json else encode_frame(seq, np.array(samples), flags)
    frame = d.decode(message)
    assert frame.samples.tolist() == samples
    assert frame.seq == seq and frame.missing == 0 and frame.lead_off == bool(flags)


def test_a_binary_frame_has_the_documented_layout():
    message = encode_frame(7, np.array([1, 2049]), flags=2)
    assert len(message) == HEADER.size + 4 == 16
    assert message[:4] == bytes([0xEC, 1, 2, 0])
    assert struct.unpack("<IHH", message[4:12]) == (7, 2, 0)
    assert struct.unpack("<2h", message[12:]) == (1, 2049)


@pytest.mark.parametrize("message,words", [
    (b"\xEC\x01", "shorter than the 12-byte header"),
    (bytes([0xED]) + encode_frame(0, np.array([1]))[1:], "bad magic 0xED"),
    (encode_frame(0, np.array([1]))[:1] + b"\x02" + encode_frame(0, np.array([1]))[2:], "unsupported version 2"),
    (encode_frame(0, np.array([1]), flags=4), "reserved flag bits"),
    (encode_frame(0, np.array([1, 2]))[:-2], "expected 16 for 2 samples"),
    (HEADER.pack(0xEC, 1, 0, 0, 0, 0, 0), "count 0 is outside 1..1024"),
    (encode_frame(0, np.array([4096])), "sample 0 = 4096 is outside the 12-bit ADC range"),
    (encode_frame(0, np.array([5, -1])), "sample 1 = -1 is outside"),
    ("not json", "not JSON"),
    ('{"v":1,"seq":0,"n":1,"s":[NaN]}', "NaN is not a number"),
    ('{"v":1,"seq":0,"n":2,"s":[1]}', "n = 2 must equal the number of samples (1)"),
    ('{"v":1,"seq":0,"n":1,"s":[1.5]}', "every sample must be a whole number"),
    ('{"v":1,"seq":0,"n":1,"s":[1],"x":0}', "unknown fields"),
    ('{"v":2,"seq":0,"n":1,"s":[1]}', "unsupported version 2"),
    ('[1,2]', "expected a JSON object"),
])
def test_malformed_frames_are_refused_naming_the_problem(message, words):
    with pytest.raises(FrameError) as e:
        decoder().decode(message)
    assert words in e.value.reason
    assert json.loads(e.value.reply())["error"] == e.value.reason


def test_a_refused_frame_does_not_disturb_the_sequence():
    d = decoder()
    d.decode(encode_frame(0, np.array([1])))
    with pytest.raises(FrameError):
        d.decode(encode_frame(1, np.array([9999])))
    assert d.decode(encode_frame(1, np.array([2]))).missing == 0


def test_a_forward_jump_counts_the_lost_frames():
    d = decoder()
    assert d.decode(encode_frame(0, np.array([1]))).missing == 0
    assert d.decode(encode_frame(5, np.array([1]))).missing == 4
    assert d.decode(encode_frame(6, np.array([1]))).missing == 0


def test_a_first_frame_after_zero_means_frames_were_lost_at_the_start():
    assert decoder().decode(encode_frame(3, np.array([1]))).missing == 3


@pytest.mark.parametrize("second", [0, 2])
def test_a_repeated_or_backward_seq_is_a_bad_frame(second):
    d = decoder()
    for seq in (0, 1, 2):
        d.decode(encode_frame(seq, np.array([1])))
    with pytest.raises(FrameError, match="repeats or goes backwards"):
        d.decode(encode_frame(second, np.array([1])))


def test_the_sequence_number_wraps_at_2_to_the_32():
    d = decoder()
    d._next_seq = 2**32 - 1
    d.decode(encode_frame(2**32 - 1, np.array([1])))
    assert d.decode(encode_frame(0, np.array([1]))).missing == 0


def test_lead_off_flags_of_either_electrode_mark_the_frame():
    d = decoder()
    assert [d.decode(encode_frame(s, np.array([1]), flags=f)).lead_off for s, f in enumerate([0, 1, 2, 3])] == \
        [False, True, True, True]


def test_the_adc_range_follows_the_declared_bits():
    assert decoder(bits=10).decode(encode_frame(0, np.array([1023]))).samples.tolist() == [1023]
    with pytest.raises(FrameError, match="10-bit ADC range 0..1023"):
        decoder(bits=10).decode(encode_frame(0, np.array([1024])))


def test_the_legacy_form_is_one_integer_per_text_frame():
    d = decoder(format="legacy")
    assert d.decode("2047").samples.tolist() == [2047]
    assert d.decode(" 12\r\n").samples.tolist() == [12]
    for bad in ("20 47", "-1", "1e3", "abc", ""):
        with pytest.raises(FrameError, match="legacy form"):
            d.decode(bad)
    with pytest.raises(FrameError, match="binary frame"):
        d.decode(encode_frame(0, np.array([1])))
    with pytest.raises(FrameError, match="outside the 12-bit ADC range"):
        d.decode("4096")


# -- limits ------------------------------------------------------------------------------------

def test_the_sliding_counter_forgets_what_left_the_window():
    c = SlidingCounter(10.0)
    assert c.add(0.0, 5) == 5
    assert c.add(9.9, 5) == 10
    assert c.add(10.0, 1) == 6  # the amount at t = 0 has left the window (0, 10]
    assert c.add(25.0) == 1
