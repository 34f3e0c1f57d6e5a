"""Context features (gateway/signal/context.py): what each one says about a beat, and that streaming equals offline."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.signal.context import (CLIP, CONTEXT_FEATURES, N_CONTEXT, QRS_HALF, ContextTracker, context_features,
                             qrs_at)

FS = 360
F = {name: i for i, name in enumerate(CONTEXT_FEATURES)}


def peaks_of(intervals_s: list[float], start: int = 100) -> np.ndarray:
    return start + np.concatenate([[0], np.cumsum(np.round(np.asarray(intervals_s) * FS))]).astype(np.int64)


def timing(peaks: np.ndarray) -> np.ndarray:
    """Features of ``peaks`` in a flat segment (timing only: no QRS shape to compare)."""
    return context_features(np.zeros(int(peaks[-1]) + QRS_HALF), peaks)


def qrs_wave(width: float, height: float = 1.0) -> np.ndarray:
    t = np.arange(-QRS_HALF, QRS_HALF) / FS
    return height * np.exp(-0.5 * (t / width) ** 2)


def test_a_premature_beat_is_early_against_the_local_rhythm():
    peaks = peaks_of([0.8] * 20 + [0.5, 1.1] + [0.8] * 5)
    f = timing(peaks)
    early = 21  # the beat that ends the 0.5 s interval
    assert f[early, F["pre"]] == pytest.approx(np.log2(0.5 / 0.8), abs=1e-3)
    assert f[early + 1, F["prev"]] == f[early, F["pre"]]
    assert f[early, F["rate"]] == pytest.approx(np.log2(0.8), abs=1e-3)
    assert f[early - 1, F["pre"]] == pytest.approx(0, abs=1e-6)  # the regular beats are on time
    assert f[early - 1, F["irregularity"]] == pytest.approx(0, abs=1e-6)


def test_irregular_rhythm_has_high_irregularity_and_a_run_stays_early_against_the_long_median():
    rng = np.random.default_rng(0)
    af = timing(peaks_of(list(rng.uniform(0.4, 1.2, 60))))
    sinus = timing(peaks_of([0.8] * 60))
    assert af[20:, F["irregularity"]].min() > 0.1 > sinus[20:, F["irregularity"]].max()
    run = timing(peaks_of([1.0] * 100 + [0.5] * 30))
    last = run[-2]  # deep into the run: the local median has adapted, the long one has not
    assert last[F["pre"]] == pytest.approx(0, abs=1e-6) and last[F["long"]] == pytest.approx(-1, abs=1e-3)


def test_the_first_beats_carry_zeros_and_every_value_is_bounded():
    f = timing(peaks_of([0.8, 0.1, 6.0, 0.05, 0.8]))
    assert not f[0].any() and not f[1, [F["pre"], F["long"], F["irregularity"]]].any()
    assert f.shape == (6, N_CONTEXT) and f.dtype == np.float32
    assert np.all(np.abs(f) <= CLIP)


def test_intervals_longer_than_the_limit_stay_out_of_the_history():
    f = timing(peaks_of([0.8] * 10 + [5.0] + [0.8] * 3))
    after = 12  # second beat after the 5 s pause: its local RR is still 0.8 s
    assert f[after, F["rate"]] == pytest.approx(np.log2(0.8), abs=1e-3)
    assert f[11, F["pre"]] == CLIP  # the pause itself is seen, clipped


def test_the_tracker_gives_each_beat_the_features_of_the_offline_function_and_starts_afresh_on_reset():
    rng = np.random.default_rng(1)
    peaks = peaks_of(list(rng.uniform(0.5, 1.0, 40)))
    y = rng.normal(0, 1, int(peaks[-1]) + QRS_HALF)
    tracker = ContextTracker()
    streamed = np.stack([tracker.push(int(p), qrs_at(y, int(p))) for p in peaks])
    np.testing.assert_array_equal(streamed, context_features(y, peaks))
    tracker.reset()
    assert not tracker.push(int(peaks[-1]) + 1000, qrs_at(y, int(peaks[5]))).any()


def test_peaks_must_ascend():
    tracker = ContextTracker()
    tracker.push(1000, None)
    with pytest.raises(ValueError, match="must ascend"):
        tracker.push(1000, None)
    with pytest.raises(ValueError, match="72 samples"):
        tracker.push(1001, np.zeros(10))


def test_a_beat_unlike_the_patients_usual_ones_has_a_low_shape_score_whatever_the_usual_form():
    for usual_width in (0.010, 0.030):  # narrow QRS, or wide as in a bundle branch block: either is "usual"
        y = np.zeros(40 * FS)
        peaks = peaks_of([0.8] * 30)
        odd = 25
        for i, p in enumerate(peaks):
            wave = qrs_wave(0.050, -1.5) if i == odd else qrs_wave(usual_width)
            y[p - QRS_HALF:p + QRS_HALF] += wave
        f = context_features(y, peaks)
        usual = np.delete(f[5:], odd - 5, axis=0)
        assert usual[:, F["shape"]].min() > 0.99 and np.abs(usual[:, F["height"]]).max() < 1e-3
        spans = np.ptp(qrs_wave(0.050, -1.5)) / np.ptp(qrs_wave(usual_width))
        assert f[odd, F["shape"]] < 0 and f[odd, F["height"]] == pytest.approx(np.log2(spans), abs=1e-3)
        assert not f[:4, F["shape"]].any()  # no template before 4 beats


def test_a_qrs_is_cut_only_where_the_segment_holds_all_of_it():
    y = np.arange(1000.0)
    assert qrs_at(y, QRS_HALF - 1) is None and qrs_at(y, 1000 - QRS_HALF + 1) is None
    np.testing.assert_array_equal(qrs_at(y, 500), y[500 - QRS_HALF:500 + QRS_HALF])


def test_the_template_keeps_copies_not_views_of_the_callers_signal():
    y = np.random.default_rng(2).normal(0, 1, 2000)
    tracker = ContextTracker()
    tracker.push(500, qrs_at(y, 500))
    y[500 - QRS_HALF:500 + QRS_HALF] = 0  # the caller reuses its buffer
    assert all(q.base is None and q.any() for q in tracker._qrs)
