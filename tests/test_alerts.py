"""The alert policy and the alerts the processor builds from it (fields, ids, strips)."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import wfdb
from PIL import Image

from gateway.alerts.config import AlertConfig
from gateway.alerts.policy import AlertPolicy
from gateway.alerts.types import (ASYSTOLE, BIGEMINY, BRADYCARDIA, FREQUENT_APB, FREQUENT_PVC, PAUSE, POOR_SIGNAL, RUN,
                                  TACHYCARDIA, TRIGEMINY, VF)
from gateway.errors import SignalError
from gateway.events import Alert
from gateway.signal.leads import read_record
from gateway.device import DeviceStream
from gateway.processor import ProcessorConfig, StreamProcessor
from gateway.signal.rhythm import RhythmWindow
from gateway.alerts.strip import StripConfig, render_strip
from reference_classifier import BEAT_SYMBOLS, FIXTURES, ReferenceClassifier
from synthetic_ecg import regular_beats, synthetic_ecg

T0 = 1_700_000_000.0
FS = 360
WIDE = dict(adc_bits=16, gain=165.0)


def stream_record(name: str, config: ProcessorConfig | None = None, device: str = "dev1",
                  block: int = 36) -> list:
    """Stream a fixture excerpt through a processor whose classifier answers with the reference labels."""
    stream = DeviceStream(device, "pat1", FS, **WIDE)
    proc = StreamProcessor(stream, ReferenceClassifier(name, stream), config or ProcessorConfig(), T0)
    counts = stream.mv_to_counts(read_record(FIXTURES / name).signal)
    events = []
    for i in range(0, counts.size, block):
        events += proc.feed(counts[i:i + block], T0 + (i + block) / FS)
    return events + proc.close(T0 + counts.size / FS)


def stream_synthetic(r_times: np.ndarray, duration: float, config: ProcessorConfig | None = None) -> list:
    stream = DeviceStream("dev1", "pat1", FS, **WIDE)
    proc = StreamProcessor(stream, _AllNormal(), config or ProcessorConfig(), T0)
    counts = stream.mv_to_counts(synthetic_ecg(r_times, duration))
    events = []
    for i in range(0, counts.size, 36):
        events += proc.feed(counts[i:i + 36], T0 + (i + 36) / FS)
    return events + proc.close(T0 + duration)


class _AllNormal:
    labels, scheme, version = ("N", "V"), "normal", "normal-1"

    def classify(self, images, context):
        probs = np.zeros((len(images), 2), dtype=np.float32)
        probs[:, 0] = 1
        return np.zeros(len(images), dtype=np.int64), probs


#: Clears go out at once: the tests below specify where each rule's condition ends; how clears are
#: held to merge returning bouts into one episode is specified in test_alert_rules.py and at the end here.
IMMEDIATE = AlertConfig(episode_merge_s=0.0)


def alerts(events, kind=None, state=None) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert) and (kind is None or e.type == kind)
            and (state is None or e.state == state)]


@pytest.fixture(scope="module")
def e233_events():
    return stream_record("e233")


# ---------------------------------------------------------------- real excerpts
def test_e233_ventricular_run_alert_has_every_field(e233_events):
    runs = alerts(e233_events, RUN, "raised")
    assert runs, "the excerpt has a ventricular run at 27.7 s"
    run = runs[0]
    assert run.start - T0 == pytest.approx(27.7, abs=0.3)
    assert run.time >= run.start and run.time - run.start < 5  # raised promptly, at arrival time
    assert run.severity == "critical" and "ventricular" in run.message
    assert run.beat_counts.get("V", 0) >= 3
    assert (run.device_id, run.patient_id, run.model_version) == ("dev1", "pat1", "reference-0")
    assert 60 < run.heart_rate < 160
    assert uuid.UUID(run.id)
    cleared = alerts(e233_events, RUN, "cleared")
    assert cleared and cleared[0].start == run.start and cleared[0].severity == "info"


def test_e233_frequent_pvcs_are_raised_once_per_cooldown(e233_events):
    pvc = alerts(e233_events, FREQUENT_PVC)
    assert len(pvc) == 1  # 120 s of frequent PVCs, cool-down 300 s
    assert pvc[0].severity == "medium" and pvc[0].beat_counts["V"] >= 7
    assert pvc[0].start >= T0


def test_every_alert_has_a_unique_id_and_a_strip(e233_events):
    every = alerts(e233_events)
    assert len({a.id for a in every}) == len(every)
    for a in every:
        with Image.open(io.BytesIO(a.strip_png)) as im:
            assert (im.format, im.size) == ("PNG", (600, 120))
        assert a.to_dict()["strip_png"]  # base64 for MQTT


def test_alert_ids_are_deterministic_per_device_and_event(e233_events):
    again = stream_record("e233", block=500)
    other = stream_record("e233", device="dev2")
    assert [a.id for a in alerts(again)] == [a.id for a in alerts(e233_events)]
    assert not {a.id for a in alerts(other)} & {a.id for a in alerts(e233_events)}


def test_e119_bigeminy():
    big = alerts(stream_record("e119"), BIGEMINY, "raised")
    assert big and big[0].severity == "medium" and big[0].beat_counts["V"] >= 4


def test_e233_trigeminy():
    assert alerts(stream_record("e233"), TRIGEMINY, "raised")


def test_e232_pauses_only_above_the_threshold():
    ann = wfdb.rdann(str(FIXTURES / "e232"), "atr")
    peaks = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS]) / FS
    rr = np.diff(peaks)
    assert rr.max() < 3.0 and (rr > 2.5).sum() >= 2  # the excerpt's long RR intervals lie in 2.5-3 s
    assert not alerts(stream_record("e232"), PAUSE)
    strict = ProcessorConfig(alerts=AlertConfig(pause_s=2.5))
    raised = alerts(stream_record("e232", strict), PAUSE, "raised")
    assert raised and raised[0].message.startswith("No beat for 2.5 s")
    starts = peaks[:-1][rr > 2.5]
    for pause in raised:  # each one is a reference pause, found at its first beat
        assert np.min(np.abs(starts - (pause.start - T0))) < 0.03


def test_e100_normal_rhythm_raises_nothing():
    assert alerts(stream_record("e100")) == []


# ------------------------------------------------------------- synthetic rhythms
def test_bradycardia_sustained_is_raised():
    events = stream_synthetic(regular_beats(35, 30), 30)
    brady = alerts(events, BRADYCARDIA, "raised")
    assert len(brady) == 1 and brady[0].severity == "high"
    assert brady[0].heart_rate == pytest.approx(35, abs=1)
    assert brady[0].time - T0 >= 10  # needs 10 s of rhythm
    assert not alerts(events, PAUSE)  # 1.7 s RR is not a pause


def test_tachycardia_sustained_is_raised_and_cleared():
    fast = regular_beats(170, 20)
    slow = 20 + regular_beats(75, 25)
    events = stream_synthetic(np.concatenate([fast, slow]), 45, ProcessorConfig(alerts=IMMEDIATE))
    tachy = alerts(events, TACHYCARDIA)
    assert [a.state for a in tachy] == ["raised", "cleared"]
    assert tachy[0].heart_rate == pytest.approx(170, abs=2)
    assert alerts(events, BRADYCARDIA) == []


def test_normal_rate_raises_nothing():
    assert alerts(stream_synthetic(regular_beats(75, 40), 40)) == []


def test_pause_then_asystole_then_cleared():
    r = np.concatenate([regular_beats(75, 10), 17 + regular_beats(75, 10)])  # 7 s without a beat
    events = stream_synthetic(r, 27, ProcessorConfig(alerts=IMMEDIATE))
    kinds = [(a.type, a.state) for a in alerts(events)]
    assert kinds == [(PAUSE, "raised"), (ASYSTOLE, "raised"), (ASYSTOLE, "cleared"), (PAUSE, "cleared")]
    pause = alerts(events, PAUSE)[0]
    assert pause.start - T0 == pytest.approx(r[r < 10][-1], abs=0.01)
    assert alerts(events, ASYSTOLE)[0].severity == "critical"


# ------------------------------------------------------------ the policy alone
def feed_labels(policy: AlertPolicy, labels: str, rr_s: float = 0.8) -> list:
    """Beats every ``rr_s`` with the given one-letter labels, in one segment."""
    out = policy.segment_start(0)
    rr = int(rr_s * FS)
    for i, label in enumerate(labels):
        peak = 1000 + i * rr
        out += policy.beat(peak + 256, peak, label, rr if i else None)
    return out


def test_run_needs_three_consecutive_ventricular_beats():
    assert not [f for f in feed_labels(AlertPolicy(IMMEDIATE), "NNVVNVVNN") if f.type == RUN]
    found = [f for f in feed_labels(AlertPolicy(IMMEDIATE), "NNVVVVNN") if f.type == RUN]
    assert [(f.state, f.start) for f in found] == [("raised", 1000 + 2 * 288), ("cleared", 1000 + 2 * 288)]
    assert "4 beats" in found[1].message


def test_slow_run_is_high_fast_run_critical():
    slow = [f for f in feed_labels(AlertPolicy(), "NVVVN", rr_s=0.8) if f.type == RUN][0]
    fast = [f for f in feed_labels(AlertPolicy(), "NVVVN", rr_s=0.4) if f.type == RUN][0]
    assert (slow.severity, fast.severity) == ("high", "critical")


def test_patterns():
    assert [f.type for f in feed_labels(AlertPolicy(), "NVNVNVNV")] == [BIGEMINY]
    assert [f.type for f in feed_labels(AlertPolicy(), "NVNVNV")] == []
    found = feed_labels(AlertPolicy(IMMEDIATE), "NNVNNVNNVNNNN")
    assert [(f.type, f.state) for f in found] == [(TRIGEMINY, "raised"), (TRIGEMINY, "cleared")]


def test_cooldown_and_disabled_types():
    labels = "NV" * 40  # 40 PVCs over 64 s
    config = AlertConfig(cooldown_s={FREQUENT_PVC: 10.0}, disabled=(BIGEMINY,))
    pvc = [f for f in feed_labels(AlertPolicy(config), labels) if f.type == FREQUENT_PVC]
    assert len(pvc) == 5  # first at the 7th PVC (8.6 s), then every 10 s
    assert "times within the cool-down" in pvc[1].message
    assert not [f for f in feed_labels(AlertPolicy(config), labels) if f.type == BIGEMINY]


@pytest.mark.parametrize("kwargs, message", [
    (dict(bradycardia_bpm=160), "bradycardia_bpm"), (dict(pause_s=0), "pause_s"),
    (dict(run_min_beats=1), "run_min_beats"), (dict(severity={"tachycardia": "urgent"}), "severity.tachycardia"),
    (dict(cooldown_s={"nonsense": 1}), "cooldown_s.nonsense"), (dict(disabled=("foo",)), "disabled"),
    (dict(asystole_s=2), "asystole_s"),
])
def test_bad_alert_config_names_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AlertConfig(**kwargs)


# ------------------------------------------------------------------- the strip
def test_strip_is_a_png_of_the_stated_size_with_labels():
    y = synthetic_ecg(regular_beats(75, 7), 7)
    png = render_strip(y, [(180, "N"), (468, "V")], "ventricular run  HR 75/min")
    with Image.open(io.BytesIO(png)) as im:
        assert (im.format, im.size, im.mode) == ("PNG", (600, 120), "L")
        pixels = np.asarray(im)
    assert (pixels[:12] < 128).any()  # labels in the top band
    assert (pixels[12:108] < 128).sum(axis=0).astype(bool).mean() > 0.95  # a continuous trace
    small = render_strip(y, [], config=StripConfig(width=300, height=80))
    with Image.open(io.BytesIO(small)) as im:
        assert im.size == (300, 80)


def test_strip_refuses_bad_signals():
    with pytest.raises(SignalError, match="non-finite"):
        render_strip(np.array([0.0, np.nan, 1.0]), [])
    with pytest.raises(SignalError, match="too short"):
        render_strip(np.array([1.0]), [])
    with pytest.raises(ValueError, match="width"):
        StripConfig(width=10)


def test_e207_flutter_raises_ventricular_fibrillation_inside_the_episode():
    events = stream_record("e207")
    vf = alerts(events, VF)
    raised = [a for a in vf if a.state == "raised"]
    assert raised and all(a.severity == "critical" for a in raised)
    # the excerpt's flutter episodes: 10.8-21.1 s and 24.9-30.6 s
    assert 10.8 < raised[0].time - T0 < 10.8 + 8 and raised[0].start - T0 == pytest.approx(10.8, abs=4)
    assert [a.state for a in vf][-1] == "cleared"
    assert not alerts(events, PAUSE) and not alerts(events, BRADYCARDIA)  # no beats in flutter is not a pause


def window(end: int, vf_like: bool, vf: bool = False, noisy: bool = False, unreadable: bool = False) -> RhythmWindow:
    return RhythmWindow(end, 0.3 if vf_like else 0.9, 0.9 if vf_like else 0.3, 1.0, vf_like, vf, noisy,
                        noisy or unreadable)


def test_flutter_labels_confirm_a_single_flutter_window():
    def policy_after(label: str, peaks=(500, 700, 900)) -> AlertPolicy:
        policy = AlertPolicy(IMMEDIATE)
        policy.segment_start(0)
        for peak in peaks:
            policy.beat(peak + 256, peak, label, 200)
        return policy

    assert not policy_after("N").rhythm(1440, window(1440, True), 1440)  # one window alone waits for the next
    # vf_flutter_beats = 3: two flutter labels in the window are not enough
    assert not policy_after("!", (500, 700)).rhythm(1440, window(1440, True), 1440)
    policy = policy_after("!")
    found = policy.rhythm(1440, window(1440, True), 1440)
    assert [(f.type, f.state, f.start) for f in found] == [(VF, "raised", 0)]
    quiet = [policy.rhythm(1440 + k * 360, window(1440 + k * 360, False), 1440) for k in range(1, 9)]
    assert [[f.state for f in q] for q in quiet] == [[]] * 7 + [["cleared"]]  # vf_clear_windows = 8


def test_heavy_noise_raises_poor_signal_quality():
    noise = np.random.default_rng(0).normal(0, 1.0, 45 * FS)
    stream = DeviceStream("dev1", "pat1", FS, **WIDE)
    proc = StreamProcessor(stream, _AllNormal(), ProcessorConfig(), T0)
    counts = stream.mv_to_counts(synthetic_ecg(regular_beats(75, 45), 45) + noise)
    events = []
    for i in range(0, counts.size, 36):
        events += proc.feed(counts[i:i + 36], T0 + (i + 36) / FS)
    poor = alerts(events, POOR_SIGNAL)
    assert poor and poor[0].severity == "low" and poor[0].time - T0 >= 30
    assert proc.status(T0 + 45).signal_quality == "poor"


def test_alerts_do_not_depend_on_framing():
    r = np.concatenate([regular_beats(75, 10), 13.3 + regular_beats(170, 20)])  # a pause, then tachycardia
    stream = DeviceStream("dev1", "pat1", FS, **WIDE)
    counts = stream.mv_to_counts(synthetic_ecg(r, 33))

    def decided(blocks: list[int]) -> list[tuple]:
        proc = StreamProcessor(stream, _AllNormal(), ProcessorConfig(), T0)
        events, i, k = [], 0, 0
        while i < counts.size:
            events += proc.feed(counts[i:i + blocks[k % len(blocks)]], T0 + i / FS)
            i, k = i + blocks[k % len(blocks)], k + 1
        return [(a.id, a.type, a.state, a.start, a.heart_rate, a.beat_counts, a.message, a.strip_png)
                for a in alerts(events + proc.close(T0 + 40))]

    reference = decided([36])
    assert {t for _, t, *_ in reference} == {PAUSE, TACHYCARDIA}
    assert decided([1000]) == reference
    assert decided(list(np.random.default_rng(5).integers(1, 400, 30))) == reference


def test_a_condition_swallowed_by_its_cooldown_is_counted_once():
    policy = AlertPolicy(AlertConfig(cooldown_s={BIGEMINY: 15.0}, episode_merge_s=0.0))
    # three bigeminy episodes 0.8 s per beat: raised at 9 s, the second (17 s) swallowed, the third (27 s) raised
    found = [f for f in feed_labels(policy, "NVNVNVNV" + "NN" + "NVNVNVNVNV" + "NN" + "NVNVNVNV" + "NN")
             if f.type == BIGEMINY]
    assert [(f.type, f.state) for f in found] == [(BIGEMINY, "raised"), (BIGEMINY, "cleared")] * 2
    assert "also 1 episodes within the cool-down" in found[2].message


# ------------------------------------------------------------- episodes and arbitration
def test_runs_that_come_back_within_a_minute_are_one_episode():
    found = [f for f in feed_labels(AlertPolicy(), "NNVVVNN" + "N" * 20 + "VVVVN" + "N" * 80) if f.type == RUN]
    assert [f.state for f in found] == ["raised", "cleared"]
    assert "2 bouts" in found[1].message and found[1].start == found[0].start


def test_flutter_ends_the_pause_it_caused_and_holds_new_ones():
    policy = AlertPolicy()
    policy.segment_start(0)
    policy.beat(1256, 1000, "N", None)
    paused = policy.advance(1000 + 4 * FS + 256)
    assert [f.type for f in paused] == [PAUSE]
    found = policy.rhythm(6 * FS, window(6 * FS, True, vf=True), 4 * FS)
    assert [(f.type, f.state) for f in found] == [(VF, "raised"), (PAUSE, "cleared")]
    assert policy.advance(20 * FS) == []  # no pause or asystole while the flutter episode is open


def test_labels_read_in_noise_raise_no_beat_label_alert():
    policy = AlertPolicy()
    policy.segment_start(0)
    out = []
    for k in range(1, 40):  # noisy windows all along
        out += policy.rhythm(k * FS, window(k * FS, False, noisy=True), 4 * FS)
        out += policy.beat(k * FS + 256 + 10, k * FS + 10, "V", FS if k > 1 else None)
    assert not [f for f in out if f.type in (RUN, FREQUENT_PVC, BIGEMINY, TRIGEMINY)]
    assert [f.type for f in out if f.state == "raised"] == [POOR_SIGNAL]
    poor = [f for f in out if f.type == POOR_SIGNAL][0]
    assert "held while beats are unreadable" in poor.message


def run_of_three(unreadable_at: set[int]) -> list:
    """Sinus beats each second, then three V beats 0.4 s apart at 20 s; windows unreadable at the given ends (s)."""
    policy = AlertPolicy(IMMEDIATE)
    policy.segment_start(0)
    peaks = [(k * FS, "N") for k in range(1, 20)] + [(20 * FS + i * 144, "V") for i in range(3)] + [(22 * FS, "N")]
    items = [(p + 256, 0, (p, label)) for p, label in peaks] + [(k * FS, 1, k) for k in range(4, 26)]
    out, prev = [], None
    for at, kind, payload in sorted(items):
        if kind:
            out += policy.rhythm(at, window(at, False, unreadable=payload in unreadable_at), 4 * FS)
        else:
            p, label = payload
            out += policy.beat(at, p, label, None if prev is None else p - prev)
            prev = p
    return out


def test_a_run_in_a_window_whose_qrs_barely_rise_above_the_noise_is_held_without_a_poor_signal_alert():
    clean = run_of_three(set())
    assert [(f.type, f.severity) for f in clean if f.state == "raised"] == [(RUN, "critical")]
    held = run_of_three({21})  # the 17-21 s window holds the run's beats; kurtosis found no noise
    assert not [f for f in held if f.state == "raised"]
    too_early = run_of_three({18})  # ended more than a second before the run's first beat: no hold
    assert [f.type for f in too_early if f.state == "raised"] == [RUN]
