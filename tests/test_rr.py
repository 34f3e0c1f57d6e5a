"""RR-interval features (gateway/rr.py): what each one says about a beat, and that streaming equals offline."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.rr import CLIP, MAX_RR_S, N_RR, RR_FEATURES, RRTracker, rr_features

FS = 360
F = {name: i for i, name in enumerate(RR_FEATURES)}


def peaks_of(intervals_s: list[float], start: int = 100) -> np.ndarray:
    return start + np.concatenate([[0], np.cumsum(np.round(np.asarray(intervals_s) * FS))]).astype(np.int64)


def test_a_premature_beat_is_early_against_the_local_rhythm_and_followed_by_a_pause():
    peaks = peaks_of([0.8] * 20 + [0.5, 1.1] + [0.8] * 5)
    f = rr_features(peaks)
    early = 21  # the beat that ends the 0.5 s interval
    assert f[early, F["pre"]] == pytest.approx(np.log2(0.5 / 0.8), abs=1e-3)
    assert f[early, F["post"]] == pytest.approx(np.log2(1.1 / 0.8), abs=1e-3)
    assert f[early + 1, F["prev"]] == f[early, F["pre"]]
    assert f[early, F["rate"]] == pytest.approx(np.log2(0.8), abs=1e-3)
    assert f[early - 1, F["pre"]] == pytest.approx(0, abs=1e-6)  # the regular beats are on time
    assert f[early - 1, F["irregularity"]] == pytest.approx(0, abs=1e-6)


def test_irregular_rhythm_has_high_irregularity_and_a_run_stays_early_against_the_long_median():
    rng = np.random.default_rng(0)
    af = rr_features(peaks_of(list(rng.uniform(0.4, 1.2, 60))))
    sinus = rr_features(peaks_of([0.8] * 60))
    assert af[20:, F["irregularity"]].min() > 0.1 > sinus[20:, F["irregularity"]].max()
    run = rr_features(peaks_of([1.0] * 100 + [0.5] * 30))
    last = run[-2]  # deep into the run: the local median has adapted, the long one has not
    assert last[F["pre"]] == pytest.approx(0, abs=1e-6) and last[F["long"]] == pytest.approx(-1, abs=1e-3)


def test_the_first_beats_carry_zeros_and_every_value_is_bounded():
    f = rr_features(peaks_of([0.8, 0.1, 6.0, 0.05, 0.8]))
    assert not f[0].any() and not f[1, [F["pre"], F["long"], F["irregularity"]]].any()
    assert f.shape == (6, N_RR) and f.dtype == np.float32
    assert np.all(np.abs(f) <= CLIP)


def test_intervals_longer_than_the_limit_stay_out_of_the_history_and_cap_post():
    f = rr_features(peaks_of([0.8] * 10 + [5.0] + [0.8] * 3))
    after = 12  # first beat after the 5 s pause: its local RR is still 0.8 s
    assert f[after, F["rate"]] == pytest.approx(np.log2(0.8), abs=1e-3)
    assert f[10, F["post"]] == pytest.approx(np.log2(MAX_RR_S / 0.8), abs=1e-3)


def test_a_tracker_settles_an_overdue_beat_as_the_offline_features_do():
    peaks = peaks_of([0.8] * 10 + [4.0, 0.8, 0.8])
    end, lookahead, block = int(peaks[-1] + 4 * FS), 162, 50
    tracker, done = RRTracker(FS), []
    for n in range(block, end + 1, block):  # a stream: each peak is reported `lookahead` samples after it
        for p in peaks[(peaks + lookahead <= n) & (peaks + lookahead > n - block)]:
            done += tracker.push(int(p))
        done += tracker.settle(n - lookahead)
    done += tracker.settle(end) + tracker.flush()  # the segment ends: every peak is known
    assert [p for p, _ in done] == list(peaks)
    np.testing.assert_array_equal(np.stack([f for _, f in done]), rr_features(peaks, end=end))
    assert done[10][1][F["post"]] == pytest.approx(np.log2(MAX_RR_S / 0.8), abs=1e-3)  # settled, not pushed


def test_peaks_must_ascend():
    tracker = RRTracker(FS)
    tracker.push(1000)
    with pytest.raises(ValueError, match="must ascend"):
        tracker.push(1000)
