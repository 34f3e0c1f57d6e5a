"""The noise stress test adds noise by WFDB nst's rules (bench/nst.py): a specification, no nstdb needed.

First 5 minutes untouched; noise in alternating 2-minute segments from
5:00; no step where the gain switches; the gain set so that the SNR the
noisy segments get, measured the ``nst`` way (QRS peak-to-peak over normal
beats, A^2/8, against the 1 s mean-removed RMS), is the one asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import nst
from tests.synthetic_ecg import regular_beats, synthetic_ecg

FS = 360
FIXTURES = Path(__file__).parent / "fixtures" / "mitdb"


@pytest.fixture(scope="module")
def ecg() -> tuple[np.ndarray, np.ndarray]:
    """12 minutes of synthetic sinus rhythm at 72 bpm (mV) and its R-peak samples."""
    beats = regular_beats(72, 720.0)
    return synthetic_ecg(beats, 720.0, FS), np.round(beats * FS).astype(np.int64)


def tiny_noise(seconds: int = 10, seed: int = 1) -> np.ndarray:
    """A short noise record (white noise plus a slow wander), repeated by nst to cover the ECG."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * FS) / FS
    return rng.normal(0.0, 0.05, t.size) + 0.2 * np.sin(2 * np.pi * 0.3 * t) + 0.7


def test_the_protocol_is_five_clean_minutes_then_two_minute_segments_noisy_clean_in_turn() -> None:
    n = int(1805.55 * FS)
    segments = nst.noisy_segments(n, FS)
    assert [(a / FS, b / FS) for a, b in segments[:3]] == [(300, 420), (540, 660), (780, 900)]
    assert len(segments) == 7 and segments[-1] == (1740 * FS, n)  # the last, 65 s, ends with the record


def test_the_first_five_minutes_are_left_bit_for_bit(ecg) -> None:
    signal, beats = ecg
    noise = tiny_noise()
    gain = nst.gain_for(0.0, nst.qrs_amplitude(signal, beats, ["N"] * beats.size, FS), nst.rms_amplitude(noise, FS))
    added = nst.added_noise(noise, signal.size, gain, nst.noisy_segments(signal.size, FS))
    noisy = signal + added
    assert np.array_equal(noisy[:300 * FS], signal[:300 * FS])
    assert np.std(added[300 * FS:420 * FS]) > 0.1 * np.ptp(signal)  # 0 dB is loud


def test_clean_segments_after_noise_are_the_ecg_plus_a_constant_and_noisy_ones_carry_the_scaled_noise(ecg) -> None:
    signal, _ = ecg
    noise = tiny_noise()
    segments = nst.noisy_segments(signal.size, FS)
    added = nst.added_noise(noise, signal.size, 0.5, segments)
    clean = (420 * FS, 540 * FS)
    assert np.ptp(added[clean[0]:clean[1]]) == 0.0
    a, b = segments[0]
    source = np.resize(noise, signal.size)
    joins = np.arange(a + 1, b) % noise.size == 0  # where the short noise record starts again, it holds one sample
    assert np.allclose(np.diff(added[a:b])[~joins], 0.5 * np.diff(source[a:b])[~joins])
    assert np.all(np.diff(added[a:b])[joins] == 0.0)


def test_there_is_no_step_where_the_gain_switches() -> None:
    """nst's offsets: across a switch the output moves by the new gain times the noise's own increment."""
    noise = tiny_noise(13) + 5.0  # a large offset in the noise record must not become a step (13 s: no join here)
    n = 700 * FS
    segments = nst.noisy_segments(n, FS)
    added = nst.added_noise(noise, n, 2.0, segments)
    source = np.resize(noise, n)
    for s in (300 * FS, 420 * FS, 540 * FS, 660 * FS):
        jump = added[s] - added[s - 1]
        new_gain = 2.0 if any(a <= s < b for a, b in segments) else 0.0
        assert jump == pytest.approx(new_gain * (source[s] - source[s - 1]), abs=1e-9)
    assert np.max(np.abs(np.diff(added))) <= 2.0 * np.max(np.abs(np.diff(source))) + 1e-9


@pytest.mark.parametrize("snr", [24.0, 18.0, 12.0, 6.0, 0.0, -6.0])
def test_the_noisy_segments_get_the_snr_asked_for_measured_the_nst_way(ecg, snr: float) -> None:
    signal, beats = ecg
    noise = tiny_noise()
    amp = nst.qrs_amplitude(signal, beats, ["N"] * beats.size, FS)
    segments = nst.noisy_segments(signal.size, FS)
    added = nst.added_noise(noise, signal.size, nst.gain_for(snr, amp, nst.rms_amplitude(noise, FS)), segments)
    assert nst.segment_snr(added, segments, amp, FS) == pytest.approx(snr, abs=0.2)
    # and by hand: the mean standard deviation of each second of the first noisy segment, against A / (2 sqrt 2)
    a, _ = segments[0]
    rms = np.mean([np.std(added[a + i * FS:a + (i + 1) * FS]) for i in range(120)])
    assert 20 * np.log10(amp / (2 * np.sqrt(2)) / rms) == pytest.approx(snr, abs=0.5)


def test_the_qrs_amplitude_is_the_trimmed_mean_peak_to_peak_of_the_first_300_normal_beats() -> None:
    n = 400
    signal = np.zeros(n * FS)
    beats = np.arange(n) * FS + FS // 2
    symbols = ["V" if i % 10 == 3 else "N" for i in range(n)]
    ptp = np.where(np.arange(n) < 330, 1.0, 9.0)  # beats after the 300 measured ones do not count
    ptp[[5, 6]] = 40.0  # two huge normal beats are trimmed away (5 % of 300 = 15 at each end)
    for i, (s, sym) in enumerate(zip(beats, symbols)):
        signal[s] = 5.0 if sym == "V" else ptp[i]  # ventricular beats are not measured
        signal[s + int(0.04 * FS)] = 0.0
    assert nst.qrs_amplitude(signal, beats, symbols, FS) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no normal beat"):
        nst.qrs_amplitude(signal, beats, ["V"] * n, FS)


def test_the_noise_rms_removes_each_seconds_mean_and_uses_the_first_300_seconds() -> None:
    t = np.arange(400 * FS) / FS
    x = 0.3 * np.sin(2 * np.pi * 5 * t) + np.floor(t) * 0.1  # a staircase baseline is removed per window
    x[300 * FS:] *= 10  # after 5 minutes: not measured
    assert nst.rms_amplitude(x, FS) == pytest.approx(0.3 / np.sqrt(2), rel=1e-3)
    assert nst.trimmed_mean(np.r_[np.ones(38), 100.0, -100.0]) == pytest.approx(1.0)


def test_gain_and_snr_are_inverse() -> None:
    g = nst.gain_for(12.0, 2.0, 0.05)
    assert nst.snr_db(2.0, g * 0.05) == pytest.approx(12.0)
    assert g * 0.05 == pytest.approx(2.0 / (2 * np.sqrt(2)) * 10 ** (-12 / 20))
    with pytest.raises(ValueError, match="positive"):
        nst.gain_for(12.0, 0.0, 0.05)


def test_a_blend_is_its_noises_in_equal_parts() -> None:
    t = np.arange(320 * FS) / FS
    a, b = 3.0 * np.sin(2 * np.pi * 0.5 * t), 0.01 * np.sin(2 * np.pi * 40 * t)
    mix = nst.blend([a, b], FS)
    assert np.allclose(mix, a / nst.rms_amplitude(a, FS) + b / nst.rms_amplitude(b, FS))
    assert nst.rms_amplitude(mix, FS) == pytest.approx(np.sqrt(2), rel=0.01)  # two uncorrelated unit parts


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4000), noise_len=st.integers(1, 700), gain=st.floats(0.0, 50.0),
       start=st.integers(0, 1500), segment=st.integers(1, 900), seed=st.integers(0, 2**16))
def test_any_protocol_leaves_the_lead_in_alone_and_clean_gaps_constant(n, noise_len, gain, start, segment,
                                                                       seed) -> None:
    noise = np.random.default_rng(seed).normal(0, 1, noise_len)
    segments = nst.noisy_segments(n, 1, start_s=start, segment_s=segment)
    added = nst.added_noise(noise, n, gain, segments)
    assert added.shape == (n,) and np.all(np.isfinite(added))
    assert np.all(added[:min(start, n)] == 0.0)
    assert all(a >= start and b - a <= segment for a, b in segments)
    for (_, b), (a2, _) in zip(segments, segments[1:] + [(n, n)]):
        assert b >= a2 or np.ptp(added[b:a2]) == 0.0  # the clean gap between noisy segments


@settings(max_examples=25, deadline=None)
@given(snr=st.floats(-6.0, 30.0), seed=st.integers(0, 2**16), wander=st.floats(0.0, 3.0),
       offset=st.floats(-10.0, 10.0))
def test_any_snr_is_met_on_a_stationary_noise(ecg, snr, seed, wander, offset) -> None:
    signal, beats = ecg
    rng = np.random.default_rng(seed)
    t = np.arange(20 * FS) / FS
    noise = rng.normal(0, 1, t.size) + wander * np.sin(2 * np.pi * 0.25 * t) + offset
    amp = nst.qrs_amplitude(signal, beats, ["N"] * beats.size, FS)
    segments = nst.noisy_segments(signal.size, FS)
    added = nst.added_noise(noise, signal.size, nst.gain_for(snr, amp, nst.rms_amplitude(noise, FS)), segments)
    assert nst.segment_snr(added, segments, amp, FS) == pytest.approx(snr, abs=0.25)


def test_the_record_kind_comes_from_the_annotations() -> None:
    """Ventricular runs / VF are read from the reference: sinus 100 has none, 233 a run, 207 flutter."""
    from bench.noise import describe
    from gateway.signal.leads import read_record

    kinds = {r: describe(FIXTURES / r, read_record(FIXTURES / r)) for r in ("e100", "e233", "e207")}
    assert kinds["e100"].quiet and kinds["e100"].qrs_mv > 0.5
    assert kinds["e233"].runs >= 1 and not kinds["e233"].quiet
    assert kinds["e207"].vt_vf >= 1 and not kinds["e207"].quiet


def test_the_report_judges_the_worst_record_without_runs_against_the_critical_target() -> None:
    """Records with ventricular runs do not count for the critical-alert target; the worst of the others does."""
    from types import SimpleNamespace

    from bench.noise import Run
    from bench.noise_report import target_table
    from bench.rpeaks import Score

    def run(record: str, critical: int, fp: int = 0) -> Run:
        score = Score(tp={150: 1000, 50: 1000}, fp={150: fp, 50: fp}, fn={150: 0, 50: 0})
        alerts = [SimpleNamespace(severity="critical", type="ventricular_run")] * critical
        return Run(record, "ma", 12.0, score, alerts, 0.5, 12.0)  # half an hour scored

    rows = target_table([run("100", 1), run("119", 3, fp=10), run("200", 9)], quiet={"100", "119"})
    critical = next(r for r in rows if "critical" in r)
    assert "worst 3.00 (3 in 30 min: 119, ma)" in critical and "| -2.00 | no |" in critical
    plus_p = next(r for r in rows if "+P" in r)
    assert "99.67 %" in plus_p and plus_p.endswith("| yes |")
