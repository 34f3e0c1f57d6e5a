"""The stream processor: samples in, beats/alerts/status out, whatever the framing, gaps and leads."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.signal import resample_poly

from gateway.alerts.types import ASYSTOLE, LEAD_OFF, PAUSE, SIGNAL_LOST
from gateway.signal.chain import condition
from gateway.signal.context import N_CONTEXT, context_features
from gateway.signal.rpeaks import detect_rpeaks
from gateway.errors import SignalError
from gateway.events import Alert, Beat, Status
from gateway.signal.leads import read_record
from gateway.device import DeviceStream
from gateway.processor import ProcessorConfig, StreamProcessor
from reference_classifier import FIXTURES
from synthetic_ecg import regular_beats, synthetic_ecg

T0 = 1_700_000_000.0
#: a front end wide enough for MIT-BIH (+-10 mV at 0.3 uV per count)
WIDE = dict(adc_bits=16, gain=165.0)


class ShapeClassifier:
    """Labels a beat from its image alone (ink in the left half vs the right), so labels follow content."""

    labels = ("N", "V")
    scheme = "shape"
    version = "shape-1"

    def classify(self, images: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert context.shape == (len(images), N_CONTEXT) and context.dtype == np.float32
        ink = 255 - images.astype(np.int64)
        left = ink[:, :, :64].sum(axis=(1, 2))
        right = ink[:, :, 64:].sum(axis=(1, 2))
        idx = (left > right).astype(np.int64)
        probs = np.zeros((len(images), 2), dtype=np.float32)
        probs[np.arange(len(images)), idx] = 1.0
        return idx, probs


def make(stream: DeviceStream | None = None, **config) -> StreamProcessor:
    stream = stream or DeviceStream("dev1", "pat1", 360, **WIDE)
    return StreamProcessor(stream, ShapeClassifier(), ProcessorConfig(**config), T0)


def run(proc: StreamProcessor, counts: np.ndarray, blocks, t_start: float = T0, close: bool = True) -> list:
    """Feed ``counts`` cut at the sizes in ``blocks`` (cycled), each at its real-time arrival."""
    events, i, k = [], 0, 0
    fs = proc.stream.fs
    while i < counts.size:
        n = blocks[k % len(blocks)]
        events += proc.feed(counts[i:i + n], t_start + (i + n) / fs)
        i, k = i + n, k + 1
    if close:
        events += proc.close(t_start + counts.size / fs)
    return events


def beats(events) -> list[Beat]:
    return [e for e in events if isinstance(e, Beat)]


def alerts(events, kind: str | None = None) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert) and (kind is None or e.type == kind)]


@pytest.fixture(scope="module")
def e100_counts() -> np.ndarray:
    rec = read_record(FIXTURES / "e100", sampto=360 * 30)
    return DeviceStream("dev1", "pat1", 360, **WIDE).mv_to_counts(rec.signal)


def test_beats_do_not_depend_on_how_the_stream_is_cut(e100_counts):
    one_block = beats(run(make(), e100_counts, [e100_counts.size]))
    frames = beats(run(make(), e100_counts, [36]))
    ragged = beats(run(make(), e100_counts, list(np.random.default_rng(3).integers(1, 700, 50))))
    assert len(one_block) > 30
    assert frames == one_block
    assert ragged == one_block


def test_stream_beats_are_the_offline_chain_peaks(e100_counts):
    stream = DeviceStream("dev1", "pat1", 360, **WIDE)
    offline = detect_rpeaks(condition(stream.counts_to_mv(e100_counts), 360))
    streamed = beats(run(make(), e100_counts, [90]))
    assert [b.sample for b in streamed] == list(offline)
    assert all(b.label in ("N", "V") for b in streamed[1:-1])  # inner beats all classified
    assert all(b.time == pytest.approx(T0 + b.sample / 360) for b in streamed)
    assert streamed[0].rr is None and streamed[1].rr == pytest.approx((offline[1] - offline[0]) / 360)


class RecordingContext(ShapeClassifier):
    """Keeps the context features of every beat it is asked to classify, in order."""

    def __init__(self):
        self.context: list[np.ndarray] = []

    def classify(self, images, context):
        self.context.append(context.copy())
        return super().classify(images, context)

    def features(self) -> np.ndarray:
        return np.concatenate(self.context) if self.context else np.zeros((0, N_CONTEXT), np.float32)


@pytest.mark.parametrize("record", ["e232", "e233"])  # APBs and pauses longer than 3 s; PVCs and a V run
def test_context_features_are_those_training_computes_over_every_detected_peak(record):
    stream = DeviceStream("dev1", "pat1", 360, **WIDE)
    counts = stream.mv_to_counts(read_record(FIXTURES / record).signal)
    classifier = RecordingContext()
    streamed = beats(run(StreamProcessor(stream, classifier, ProcessorConfig(), T0), counts, [36]))
    y = condition(stream.counts_to_mv(counts), 360)
    offline = detect_rpeaks(y)
    assert [b.sample for b in streamed] == list(offline)  # one segment, the same peaks
    classified = np.array([b.label != "?" for b in streamed])
    assert classified.sum() > 50
    np.testing.assert_array_equal(classifier.features(), context_features(y, offline)[classified])


def test_context_features_start_afresh_after_a_gap(e100_counts):
    stream = DeviceStream("dev1", "pat1", 360, **WIDE)
    classifier = RecordingContext()
    proc = StreamProcessor(stream, classifier, ProcessorConfig(), T0)
    run(proc, e100_counts[: 360 * 12], [36], close=False)
    proc.gap(5, T0 + 13.0)
    before = len(classifier.features())
    resumed = e100_counts[360 * 15: 360 * 27]
    after = beats(run(proc, resumed, [36], t_start=T0 + 13.0))
    classified = np.array([b.label != "?" for b in after])
    assert not classified.all()  # beats too near the segment's edge count for the features too
    y = condition(stream.counts_to_mv(resumed), 360)  # the new segment alone: nothing from before the gap
    peaks = detect_rpeaks(y)
    assert len(peaks) == len(after)
    expected = context_features(y, peaks)[classified]
    np.testing.assert_array_equal(classifier.features()[before:], expected)
    assert not expected[0].any()  # the first beat of a segment has no history


def test_classifier_is_called_once_per_feed_with_every_ready_beat(e100_counts):
    calls = []

    class Counting(ShapeClassifier):
        def classify(self, images, context):
            calls.append(len(images))
            return super().classify(images, context)

    proc = StreamProcessor(DeviceStream("dev1", "pat1", 360, **WIDE), Counting(), ProcessorConfig(), T0)
    events = proc.feed(e100_counts[: 360 * 20], T0 + 20)
    assert len(calls) == 1 and calls[0] == len([b for b in beats(events) if b.label != "?"]) > 15


def test_each_beat_comes_within_the_stated_delay(e100_counts):
    proc = make()
    fed, late = 0, []
    for i in range(0, 360 * 20, 10):
        out = proc.feed(e100_counts[i:i + 10], T0 + (i + 10) / 360)
        fed = i + 10
        late += [fed - b.sample for b in beats(out)]
    assert late and max(late) <= proc.delay_s * 360 + 10
    assert proc.delay_s == pytest.approx(0.25 + 204 / 360 + 256 / 360)


def test_other_device_rates_go_through_the_resampler(e100_counts):
    mv = DeviceStream("x", "y", 360, **WIDE).counts_to_mv(e100_counts)
    stream = DeviceStream("dev250", "pat1", 250, **WIDE)
    counts = stream.mv_to_counts(resample_poly(mv, 25, 36))
    at250 = beats(run(make(stream), counts, [25]))
    at360 = beats(run(make(), e100_counts, [36]))
    assert len(at250) == len(at360)
    assert max(abs(a.sample - b.sample) for a, b in zip(at250, at360)) <= 2


def test_no_beat_or_alert_spans_a_gap(e100_counts):
    proc = make()
    first = run(proc, e100_counts[: 360 * 12], [36], close=False)
    gap = proc.gap(5, T0 + 13.0)
    second = run(proc, e100_counts[360 * 15: 360 * 27], [36], t_start=T0 + 13.0)
    after = beats(second)
    assert isinstance(gap[-1], Status) and gap[-1].gaps == 1 and gap[-1].extra["gap_frames"] == 5
    assert after[0].rr is None  # a new segment: no RR interval across the gap
    assert after[0].time > max(b.time for b in beats(first + gap))
    # the new segment is anchored at the arrival of its first frame, 13 s after the start
    assert after[0].time - (T0 + 13.0) == pytest.approx(after[0].sample / 360 - 13.0, abs=0.01)
    assert not alerts(first + gap + second)  # no pause or run from the discontinuity
    assert sum(b.label == "?" for b in beats(first + gap + second)) <= 4  # only segment-edge beats


def test_lead_off_flag_stops_beats_and_raises_then_clears(e100_counts):
    proc = make(DeviceStream("dev1", "pat1", 360, reports_lead_off=True, **WIDE))
    events = []
    for i in range(0, e100_counts.size, 36):
        off = 360 * 10 <= i < 360 * 18
        events += proc.feed(e100_counts[i:i + 36], T0 + (i + 36) / 360, lead_off=off)
        if i == 360 * 9:
            assert proc.status(T0 + 9).heart_rate > 50
        if i == 360 * 15:
            assert proc.status(T0 + 15).lead == "off"
            assert proc.status(T0 + 15).signal_quality == "none"
        if i == 360 * 17:
            assert proc.status(T0 + 17).heart_rate is None  # no rate to show while the lead is off
    events += proc.close(T0 + 30)
    inside = [b for b in beats(events) if 10.0 <= b.time - T0 <= 18.0]
    assert inside == []
    off = alerts(events, LEAD_OFF)
    assert [a.state for a in off] == ["raised", "cleared"]
    assert off[0].start == pytest.approx(T0 + 10, abs=0.3) and "electrode" in off[0].message
    assert not alerts(events, PAUSE) and not alerts(events, ASYSTOLE)


@pytest.mark.parametrize("level, reason", [(2 ** 16 - 1, "ADC limit"), (0, "ADC limit"), (40000, "flat")])
def test_rail_and_flat_signals_are_lead_off_without_flags(e100_counts, level, reason):
    counts = e100_counts.copy()
    counts[360 * 10: 360 * 18] = level
    events = run(make(), counts, [36])
    assert not [b for b in beats(events) if 10.5 <= b.time - T0 <= 18.0]
    off = alerts(events, LEAD_OFF)
    assert off and off[0].state == "raised" and reason in off[0].message
    assert not alerts(events, PAUSE) and not alerts(events, ASYSTOLE)


def test_flat_line_with_the_lead_reported_on_is_asystole(e100_counts):
    counts = e100_counts.copy()
    counts[360 * 10: 360 * 20] = 40000
    proc = make(DeviceStream("dev1", "pat1", 360, reports_lead_off=True, **WIDE))
    events = run(proc, counts, [36])
    kinds = [(a.type, a.state) for a in alerts(events)]
    assert (PAUSE, "raised") in kinds and (ASYSTOLE, "raised") in kinds
    assert not alerts(events, LEAD_OFF)
    asystole = alerts(events, ASYSTOLE)[0]
    assert asystole.severity == "critical"
    assert asystole.time - asystole.start >= 6.0  # raised only once 6 s have passed without a beat


def test_signal_lost_from_tick_then_back():
    stream = DeviceStream("dev1", "pat1", 360, **WIDE)
    counts = stream.mv_to_counts(synthetic_ecg(regular_beats(70, 10), 10))
    proc = make(stream)
    events = run(proc, counts, [36], close=False)
    assert not alerts(proc.tick(T0 + 11.0))  # one second of silence is nothing
    stall = proc.status(T0 + 13.0)
    proc.tick(T0 + 13.0)
    assert proc.status(T0 + 13.0).gaps == stall.gaps + 1  # a stall is counted
    lost = alerts(proc.tick(T0 + 21.0), SIGNAL_LOST)
    assert len(lost) == 1 and lost[0].severity == "high" and lost[0].time == T0 + 21.0
    assert not alerts(proc.tick(T0 + 22.0), SIGNAL_LOST)  # raised once
    back = proc.feed(counts[:360], T0 + 25.0)
    assert [(a.type, a.state) for a in alerts(back)] == [(SIGNAL_LOST, "cleared")]
    assert not alerts(events)


def test_periodic_status_reports_the_device():
    stream = DeviceStream("dev1", "pat1", 360, **WIDE)
    counts = stream.mv_to_counts(synthetic_ecg(regular_beats(72, 30), 30))
    proc = make(stream, status_every_s=5.0)
    run(proc, counts, [36], close=False)
    proc.note_bad_frame()
    assert proc.tick(T0 + 30) == []  # the first tick starts the period
    statuses = [e for e in proc.tick(T0 + 35.5) if isinstance(e, Status)]
    assert len(statuses) == 1
    s = statuses[0]
    assert (s.device_id, s.patient_id, s.lead, s.signal_quality) == ("dev1", "pat1", "on", "good")
    assert s.heart_rate == pytest.approx(72, abs=1.5)
    assert s.beats == sum(s.beat_counts.values()) >= 34
    assert s.bad_frames == 1 and s.model_version == "shape-1"


def test_memory_stays_bounded_on_a_long_stream():
    stream = DeviceStream("dev1", "pat1", 360, **WIDE)
    minute = stream.mv_to_counts(synthetic_ecg(regular_beats(80, 60), 60))
    proc = make(stream, strips=False)
    tracemalloc.start()
    run(proc, minute, [360], close=False)
    after_one = tracemalloc.get_traced_memory()[0]
    for m in range(1, 5):
        run(proc, minute, [360], t_start=T0 + 60 * m, close=False)
    after_five = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_five - after_one < 200_000  # bytes; a leak of even 1 float per sample would be 690 kB


def test_bad_input_raises_clear_errors():
    proc = make(DeviceStream("dev1", "pat1", 360, adc_bits=12))
    with pytest.raises(SignalError, match="integer ADC counts"):
        proc.feed(np.array([1.5, 2.0]), T0)
    with pytest.raises(SignalError, match="1-D"):
        proc.feed(np.zeros((2, 3), dtype=int), T0)
    with pytest.raises(SignalError, match=r"outside 0..4095.*index 1: 4096"):
        proc.feed(np.array([10, 4096]), T0)
    with pytest.raises(SignalError, match="missing_frames"):
        proc.gap(-1, T0)
    assert proc.feed([], T0) == []
    proc.close(T0 + 1)
    with pytest.raises(RuntimeError, match="closed"):
        proc.feed(np.array([1, 2]), T0 + 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(fs=0), "fs"), (dict(adc_bits=20), "adc_bits"), (dict(device_id=""), "device_id"),
    (dict(gain=0), "gain"), (dict(zero=5000), "zero"),
])
def test_bad_device_declarations_are_refused(kwargs, message):
    args = dict(device_id="d", patient_id="p", fs=360) | kwargs
    with pytest.raises(SignalError, match=message):
        DeviceStream(**args)


def test_counts_and_millivolts_round_trip():
    kit = DeviceStream("d", "p", 360)  # AD8232 kit: 1100 V/V, 3.3 V, 12 bits
    assert kit.mv_per_count == pytest.approx(3300 / 4096 / 1100)
    mv = np.array([-1.0, 0.0, 0.5, 1.2])
    assert np.allclose(kit.counts_to_mv(kit.mv_to_counts(mv)), mv, atol=kit.mv_per_count)
    assert kit.mv_to_counts(np.array([-5.0, 5.0])).tolist() == [0, 4095]  # clipped like the real ADC


def test_a_device_that_never_sends_is_lost():
    proc = make()
    assert not alerts(proc.tick(T0 + 5))
    lost = alerts(proc.tick(T0 + 10.5), SIGNAL_LOST)
    assert len(lost) == 1 and lost[0].strip_png is None  # no signal to show
    assert proc.status(T0 + 11).signal_quality == "none"
