"""The AF detector: irregular RR is AF; sinus, ectopy and bigeminy are not; episodes are clean and stream exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.signal.af import AFChange, AFConfig, AFDetector, af_episodes
from gateway.signal.chain import condition
from gateway.signal.leads import read_record
from gateway.signal.rpeaks import detect_rpeaks
from reference_classifier import FIXTURES

FS = 360
W = AFConfig().window
SEEDS = st.integers(0, 2**32 - 1)
MEAN_RR = st.floats(0.4, 1.3)  # 46 to 150 beats/min
AF_MEAN_RR = st.floats(0.4, 0.9)  # AF's usual ventricular rates, 67 to 150 beats/min (see below)
FEW = settings(max_examples=25, deadline=None)


# ------------------------------------------------------------------ rhythms (RR intervals in samples)
def af_rr(rng: np.random.Generator, n: int, mean_s: float) -> list[int]:
    """AF-like: independent intervals spread +-40 % around the mean."""
    return [int(v) for v in np.round(rng.uniform(0.6, 1.4, n) * mean_s * FS)]


def sinus_rr(rng: np.random.Generator, n: int, mean_s: float, hrv: float = 0.03) -> list[int]:
    """Sinus: respiratory modulation (period ~4.5 beats) plus 1 % beat-to-beat jitter."""
    k = np.arange(n)
    return [int(v) for v in np.round(mean_s * FS * (1 + hrv * np.sin(2 * np.pi * k / 4.5 + rng.uniform(0, 7))
                                                   + 0.01 * rng.standard_normal(n)))]


def with_pvcs(rng: np.random.Generator, rr: list[int], every: int,
              coupling: float = 0.6) -> tuple[list[int], list[str]]:
    """Replace some beats by PVCs: a premature interval, then a full compensatory pause."""
    rr, labels, i = list(rr), ["N"] * len(rr), int(rng.integers(2, every + 2))
    while i + 1 < len(rr):
        base = rr[i]
        rr[i], rr[i + 1] = int(coupling * base), int((2 - coupling) * base)
        labels[i] = "V"
        i += int(rng.integers(max(3, every // 2), every + 2))
    return rr, labels


def peaks_of(rr: list[int], start: int = 1000) -> list[int]:
    return [start] + list(start + np.cumsum(rr))


def run(rr: list[int], labels: list[str] | None = None, config: AFConfig | None = None):
    """Offline episodes and the detector (reset at the end) over beats with these intervals."""
    return af_episodes(peaks_of(rr), None if labels is None else ["N"] + labels, config)


def stream(rr: list[int], labels: list[str] | None = None, config: AFConfig | None = None):
    """The changes and the detector, still in the segment, after pushing these beats one by one."""
    det, peaks = AFDetector(config), peaks_of(rr)
    changes = [det.push(peaks[0], None)]
    changes += [det.push(p, i, None if labels is None else lab)
                for p, i, lab in zip(peaks[1:], rr, labels or [None] * len(rr))]
    return [c for c in changes if c], det


# ------------------------------------------------------------------ what is AF and what is not
@FEW
@given(SEEDS, AF_MEAN_RR)
@example(928066, 0.5)  # the ectopic filter ends this one early (docs/af.md, known limits)
def test_irregular_rr_is_af(seed, mean_s):
    """AF is found at its onset and holds for most of it.  Rarely the filter that drops short-long
    pairs as ectopy leaves a stretch of AF regular enough to end the episode early (docs/af.md)."""
    rng = np.random.default_rng(seed)
    rr = af_rr(rng, 6 * W, mean_s)
    changes, det = stream(rr)
    assert changes and changes[0].onset  # found, and first of all an onset
    assert changes[0].sample < changes[0].decided  # raised after the onset it reports
    assert len(changes) <= 2 and det.burden() > 0.5  # at most one early end, no flicker


@FEW
@given(SEEDS, MEAN_RR, st.floats(0.0, 0.05))
def test_sinus_rhythm_is_not_af(seed, mean_s, hrv):
    changes, det = stream(sinus_rr(np.random.default_rng(seed), 6 * W, mean_s, hrv))
    assert changes == [] and det.cosen is not None and det.burden() == 0  # estimated, and never AF


@FEW
@given(SEEDS, MEAN_RR, st.integers(3, 30), st.floats(0.5, 0.8), st.booleans())
def test_sinus_with_pvcs_is_not_af_with_or_without_labels(seed, mean_s, every, coupling, labelled):
    rng = np.random.default_rng(seed)
    rr, labels = with_pvcs(rng, sinus_rr(rng, 6 * W, mean_s), every, coupling)
    episodes, _ = run(rr, labels if labelled else None)
    assert episodes == []


@FEW
@given(SEEDS, MEAN_RR, st.floats(0.5, 0.85), st.sampled_from([2, 3]))
def test_bigeminy_and_trigeminy_are_not_af(seed, mean_s, coupling, period):
    """Alternating short-long intervals are irregular but repeat: the classic false positive of RR detectors."""
    rng = np.random.default_rng(seed)
    rr = sinus_rr(rng, 6 * W, mean_s, hrv=0.01)
    for i in range(0, len(rr) - 1, period):
        rr[i], rr[i + 1] = int(coupling * rr[i]), int((2 - coupling) * rr[i + 1])
    assert stream(rr)[0] == []
    changes, det = stream(rr, config=AFConfig(premature=0))  # the pattern alone, no ectopic filter
    assert changes == [] and det.cosen is not None and det.cosen < AFConfig().offset


def test_v_labelled_beats_are_left_out_entirely():
    """Bigeminy with every other beat labelled V: no interval is usable, so no estimate and no AF."""
    rr = [200, 400] * (3 * W)
    changes, det = stream(rr, ["V", "N"] * (3 * W), AFConfig(premature=0))
    assert changes == [] and det.cosen is None and det.analysed_samples == sum(rr)


def test_labelled_af_is_still_af():
    rng = np.random.default_rng(5)
    rr, labels = with_pvcs(rng, af_rr(rng, 6 * W, 0.7), every=8)
    assert len(run(rr, labels)[0]) == 1


# ------------------------------------------------------------------ episodes: onset, end, hysteresis
def test_af_between_sinus_gives_one_episode_dated_within_a_window_of_the_true_change():
    rng = np.random.default_rng(1)
    n = 5 * W
    rr = sinus_rr(rng, n, 0.8) + af_rr(rng, n, 0.7) + sinus_rr(rng, n, 0.8)
    peaks = peaks_of(rr)
    episodes, det = af_episodes(peaks)
    assert len(episodes) == 1
    start, end, decided = episodes[0]
    window = W * 0.8 * FS  # a window of beats: COSEn crosses once most of the window is the new rhythm
    assert peaks[n] <= start < peaks[n] + window and peaks[2 * n] - window / 2 < end <= peaks[2 * n] + window / 2
    assert start < decided  # the alarm comes after the onset it reports
    assert det.burden() == pytest.approx((end - start) / (peaks[-1] - peaks[0]))


@FEW
@given(SEEDS, st.lists(st.tuples(st.booleans(), st.integers(8, 200)), min_size=1, max_size=8))
def test_hysteresis_af_starts_above_onset_ends_after_end_confirm_estimates_below_offset(seed, stretches):
    rng = np.random.default_rng(seed)
    config = AFConfig()
    rr = [x for af, n in stretches for x in (af_rr(rng, n, 0.7) if af else sinus_rr(rng, n, 0.75))]
    det, was, last, below = AFDetector(config), False, None, 0
    for peak, interval in zip(peaks_of(rr)[1:], rr):
        change = det.push(peak, interval)
        new_estimate = det.cosen is not None and det.cosen != last
        if new_estimate:
            below = below + 1 if was and det.cosen < config.offset else 0
        if det.in_af != was:
            assert new_estimate and isinstance(change, AFChange) and change.onset == det.in_af
            assert det.cosen > config.onset if det.in_af else below == config.end_confirm
            below = 0
        else:
            assert change is None
            assert not (was and below >= config.end_confirm)
            if new_estimate and not was:
                assert det.cosen <= config.onset
        was, last = det.in_af, det.cosen


def test_a_wide_hysteresis_keeps_the_episode_through_sinus():
    rng = np.random.default_rng(2)
    rr = af_rr(rng, 3 * W, 0.7) + sinus_rr(rng, 3 * W, 0.8)
    assert len(run(rr, config=AFConfig(offset=-9.0))[0]) == 1
    assert run(rr, config=AFConfig(offset=-9.0))[1].in_af is False  # closed at the end of the segment
    det = AFDetector(AFConfig(offset=-9.0))
    for peak, interval in zip(peaks_of(rr)[1:], rr):
        det.push(peak, interval)
    assert det.in_af


# ------------------------------------------------------------------ segments
def test_reset_ends_the_episode_at_the_last_beat_and_starts_afresh():
    rng = np.random.default_rng(3)
    rr = af_rr(rng, 2 * W, 0.7)
    peaks = peaks_of(rr)
    det = AFDetector()
    for peak, interval in zip(peaks[1:], rr):
        det.push(peak, interval)
    assert det.in_af
    analysed, burden = det.analysed_samples, det.burden()
    assert det.reset() == AFChange(False, peaks[-1], peaks[-1])
    assert not det.in_af and det.cosen is None
    assert det.analysed_samples == analysed and det.burden() == pytest.approx(burden)  # burden runs on
    assert det.reset() is None  # nothing open
    # the new segment restarts its indices and needs a full window again
    more = af_rr(rng, W - 1, 0.7)
    assert [det.push(p, i) for p, i in zip(peaks_of(more, 0)[1:], more)] == [None] * (W - 1)
    assert det.cosen is None


def test_intervals_that_are_not_rhythm_are_left_out():
    rng = np.random.default_rng(4)
    rr = sinus_rr(rng, 2 * W, 0.8)
    rr[W] = 4 * FS  # a 4 s pause, longer than max_rr_s
    changes, det = stream(rr)
    assert changes == [] and det.analysed_samples == sum(rr) - 4 * FS


def test_peaks_must_ascend():
    det = AFDetector()
    det.push(100, None)
    with pytest.raises(ValueError, match="ascend"):
        det.push(100, 0)


# ------------------------------------------------------------------ exactness: streaming = offline = the formula
def cosen_direct(window: list[int], r: int) -> float:
    """COSEn of one window from its definition (Richman & Moorman counts, N - m templates)."""
    x = np.asarray(window)
    d = np.abs(x[:, None] - x[None, :]) <= r
    upper = np.triu(np.ones((x.size - 1, x.size - 1), dtype=bool), 1)
    b = int((d[:-1, :-1] & upper).sum())
    a = int((d[:-1, :-1] & d[1:, 1:] & upper).sum())
    se = math.log(b / a) if a else math.log((x.size - 1) * (x.size - 2) / 2)
    return se + math.log(2 * r / x.mean())


@FEW
@given(SEEDS, st.floats(0.0, 1.0), st.integers(8, 40))
def test_incremental_cosen_equals_the_definition_at_every_beat(seed, af_share, window):
    rng = np.random.default_rng(seed)
    rr = [int(v) for v in rng.choice([*af_rr(rng, 50, 0.7), *sinus_rr(rng, 50, 0.7)], 3 * window,
                                     p=[af_share / 50] * 50 + [(1 - af_share) / 50] * 50)]
    det = AFDetector(AFConfig(window=window, premature=0))
    for k, (peak, interval) in enumerate(zip(peaks_of(rr)[1:], rr)):
        det.push(peak, interval)
        if k + 1 >= window:
            assert det.cosen == pytest.approx(cosen_direct(rr[k + 1 - window:k + 1], det._r), abs=1e-12)


@FEW
@given(SEEDS, st.lists(st.integers(1, 400), min_size=1, max_size=10))
def test_streaming_over_any_cut_equals_offline(seed, cuts):
    rng = np.random.default_rng(seed)
    rr, labels = with_pvcs(rng, sinus_rr(rng, 2 * W, 0.8) + af_rr(rng, 3 * W, 0.6) + sinus_rr(rng, 2 * W, 0.8), 9)
    peaks, labels = peaks_of(rr), ["N"] + labels
    offline, final = af_episodes(peaks, labels)
    det, changes, i = AFDetector(), [], 0
    for n in cuts + [len(peaks)]:  # the gateway's blocks end wherever frames end
        block = range(i, min(len(peaks), i + n))
        changes += [det.push(peaks[k], peaks[k] - peaks[k - 1] if k else None, labels[k]) for k in block]
        i = block.stop
    changes.append(det.reset())
    onsets = [c for c in changes if c and c.onset]
    ends = [c.sample for c in changes if c and not c.onset]
    assert [(c.sample, e, c.decided) for c, e in zip(onsets, ends)] == offline
    assert det.burden() == final.burden()


# ------------------------------------------------------------------ real ECG through the gateway's chain
@pytest.mark.parametrize("name", ["e100", "e119", "e208", "e233", "e232"])
def test_no_af_on_mitdb_excerpts_with_ectopy(name):
    """Sinus with PVCs, bigeminy (e119), trigeminy and couplets (e208), VT (e233), sinus bradycardia (e232)."""
    rec = read_record(FIXTURES / name)
    assert af_episodes(detect_rpeaks(condition(rec.signal, rec.fs)))[0] == []


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize("field,value", [
    ("window", 4), ("window", 64.0), ("tolerance_s", 0.0), ("tolerance_s", 1.0),
    ("onset", math.nan), ("offset", 0.0), ("offset", math.inf), ("end_confirm", 0), ("end_confirm", 2.0),
    ("premature", 1.0), ("premature", -0.1),
    ("history", 1), ("min_rr_s", 0.0), ("max_rr_s", 0.1), ("exclude", "VEF"), ("exclude", (1,)),
])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError) as err:
        AFConfig(**{field: value})
    assert str(err.value).startswith(f"{field}:")


def test_config_is_frozen_and_labels_must_match_peaks():
    with pytest.raises(AttributeError):
        AFConfig().onset = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="labels"):
        af_episodes([1, 300, 600], ["N"])


# ------------------------------------------------------------------ the benchmark's EC57 AF statistics
def test_ec57_statistics_count_any_overlap_and_sum_times():
    from bench.af import counts, stats

    ref = [(0.0, 100.0), (200.0, 210.0), (400.0, 500.0)]
    det = [(50.0, 150.0), (205.0, 206.0), (300.0, 310.0)]
    c = counts(ref, det)
    # 2 of 3 reference episodes hit; 2 of 3 detected hit; overlap 50 + 1 s of 210 ref s and 111 det s
    assert list(c) == [3, 2, 3, 2, 210.0, 111.0, 51.0]
    assert stats(c) == ("66.7", "66.7", "24.3", "45.9")
    assert counts(ref, [(100.0, 200.0)])[1] == 0  # touching is not overlapping


def test_delay_is_measured_from_each_reference_onset_after_a_minute_without_af():
    from bench.af import delays

    ref = [(0.0, 100.0), (130.0, 200.0), (400.0, 500.0), (900.0, 950.0)]
    det, decided = [(10.0, 210.0), (420.0, 500.0)], [40.0, 450.0]
    # 130 s follows AF within 60 s: not an onset; 900 s is missed
    assert delays(ref, det, decided) == [(0.0, 40.0, True), (400.0, 50.0, False), (900.0, None, False)]
