"""The QRS-to-noise measure that holds beat labels (gateway.signal.sqi): what it flags and what it leaves alone.

Clean ECG with PVCs, bigeminy and a true ventricular run (MIT-BIH excerpts)
must never be judged unreadable, or real runs would go unreported; noise at
the noise stress test's 6 dB must be, whatever the rate or the amplitude.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signal.chain import Conditioner
from gateway.signal.leads import read_record
from gateway.signal.rhythm import RhythmConfig, VFDetector
from gateway.signal.sqi import QRS_NOISE_MIN, qrs_noise_ratio, unreadable_window
from gateway.signal.spec import MODEL_FS
from reference_classifier import FIXTURES
from synthetic_ecg import regular_beats, synthetic_ecg

FS = MODEL_FS
WINDOW = 4 * FS


def filtered(x: np.ndarray) -> np.ndarray:
    """The signal the rhythm windows see: the processor's conditioner, its delay dropped."""
    conditioner = Conditioner(FS)
    return conditioner.process(x)[conditioner.delay:]


def windows(y: np.ndarray) -> list[np.ndarray]:
    return [y[end - WINDOW:end] for end in range(WINDOW, y.size + 1, FS)]


def nst_noise(n: int, qrs_mv: float, snr_db: float, seed: int) -> np.ndarray:
    """White noise at ``snr_db`` by WFDB nst's rule (S = A^2/8 with A the QRS peak-to-peak, N = RMS^2)."""
    return np.random.default_rng(seed).normal(0, 1, n) * qrs_mv * np.sqrt(2) / 4 * 10 ** (-snr_db / 20)


def test_the_limit_is_the_rhythm_detectors_default_and_a_bad_one_is_named():
    assert RhythmConfig().qrs_noise_min == QRS_NOISE_MIN > 0
    with pytest.raises(ValueError, match="qrs_noise_min"):
        RhythmConfig(qrs_noise_min=-1.0)


@pytest.mark.parametrize("record, what", [("e100", "sinus rhythm"), ("e119", "ventricular bigeminy"),
                                          ("e208", "PVCs, fusion beats, trigeminy"),
                                          ("e233", "frequent PVCs and a ventricular run at 27.7 s")])
def test_clean_ecg_with_pvcs_and_a_true_run_is_never_unreadable(record, what):
    y = filtered(read_record(FIXTURES / record).signal)
    judged = [unreadable_window(w) for w in windows(y)]
    assert len(judged) > 20 and not any(judged), what


def test_the_true_run_keeps_its_labels_in_the_streaming_detector():
    """e233's run (27.7 s) passes through the same windows the alert policy is given."""
    rhythm = VFDetector().process(filtered(read_record(FIXTURES / "e233").signal))
    around = [w for w in rhythm if 26 * FS <= w.end <= 33 * FS]
    assert around and not any(w.unreadable for w in around)


def test_muscle_like_noise_at_6_db_makes_every_window_unreadable():
    rec = read_record(FIXTURES / "e100")
    y = filtered(rec.signal + nst_noise(rec.signal.size, 1.47, 6.0, seed=3))  # 1.47 mV: nst's amplitude of 100
    assert all(unreadable_window(w) for w in windows(y))
    rhythm = VFDetector().process(y)
    assert all(w.unreadable for w in rhythm)
    assert not any(w.noisy for w in rhythm)  # what the kurtosis alone missed


@settings(max_examples=25, deadline=None)
@given(bpm=st.floats(45, 150), scale=st.floats(0.2, 5.0), seed=st.integers(0, 2 ** 16))
def test_synthetic_ecg_is_readable_and_the_same_with_6_db_noise_is_not(bpm, scale, seed):
    clean = scale * synthetic_ecg(regular_beats(bpm, 12), 12, seed=seed)
    assert not any(unreadable_window(w) for w in windows(filtered(clean)))
    noisy = clean + nst_noise(clean.size, 1.6 * scale, 6.0, seed)  # 1.6 mV: the synthetic QRS's peak-to-peak
    assert all(unreadable_window(w) for w in windows(filtered(noisy)))


@given(scale=st.floats(1e-3, 1e3), offset=st.floats(-10, 10))
def test_the_ratio_does_not_depend_on_gain_or_offset(scale, offset):
    w = filtered(synthetic_ecg(regular_beats(70, 6), 6))[:WINDOW]
    assert qrs_noise_ratio(scale * w + offset) == pytest.approx(qrs_noise_ratio(w), rel=1e-6)


def test_a_flat_window_is_a_lead_matter_not_unreadable_noise():
    assert qrs_noise_ratio(np.zeros(WINDOW)) == float("inf")
    assert not unreadable_window(np.full(WINDOW, 0.3))
