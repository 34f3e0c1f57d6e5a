"""The signal chain: streaming equals offline, resampling is anti-aliased, bad input is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import median_filter
from scipy.signal import resample_poly

from gateway.signal.chain import Conditioner, beat_windows, condition
from gateway.errors import SignalError
from gateway.signal.filters import DELAY, LOWPASS_TAPS, MEDIAN_LONG, MEDIAN_SHORT, ECGFilter, filter_ecg
from gateway.signal.leads import choose_lead, read_record
from gateway.signal.resample import Resampler

FIXTURES = Path(__file__).parent / "fixtures" / "mitdb"


def feed_in_blocks(stage, x: np.ndarray, rng: np.random.Generator, max_block: int) -> np.ndarray:
    """Run a streaming stage over ``x`` cut at random places, then flush."""
    out, i = [], 0
    while i < x.size:
        k = int(rng.integers(1, max_block))
        out.append(stage.process(x[i:i + k]))
        i += k
    out.append(stage.flush())
    return np.concatenate(out)


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return read_record(FIXTURES / "e208").signal


# -- filter ------------------------------------------------------------------

def test_filter_is_medians_then_fir_with_nearest_edges(ecg):
    """The offline form is exactly the documented maths (independent reference)."""
    baseline = median_filter(median_filter(ecg, MEDIAN_SHORT, mode="nearest"), MEDIAN_LONG, mode="nearest")
    half = (LOWPASS_TAPS.size - 1) // 2
    reference = np.convolve(np.pad(ecg - baseline, half, mode="edge"), LOWPASS_TAPS, mode="valid")
    np.testing.assert_allclose(filter_ecg(ecg), reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("max_block", [2, 37, 360, 5000])
def test_streaming_filter_equals_offline_wherever_blocks_fall(ecg, max_block):
    rng = np.random.default_rng(max_block)
    streamed = feed_in_blocks(ECGFilter(), ecg, rng, max_block)
    assert streamed.shape == ecg.shape
    # same code, same order of operations: equal to float rounding (1e-12 mV)
    np.testing.assert_allclose(streamed, filter_ecg(ecg), rtol=0, atol=1e-12)


def test_filter_delay_is_bounded_and_stated(ecg):
    f = ECGFilter()
    out = f.process(ecg[:1000])
    assert out.size == 1000 - DELAY
    assert DELAY == 204  # 567 ms at 360 Hz: 36 + 108 (medians) + 60 (FIR)


def test_filter_removes_baseline_wander_and_mains():
    fs = 360
    t = np.arange(30 * fs) / fs
    wander = 0.8 * np.sin(2 * np.pi * 0.2 * t) + 0.3 * t / 30
    mains = 0.2 * np.sin(2 * np.pi * 50 * t) + 0.2 * np.sin(2 * np.pi * 60 * t)
    y = filter_ecg(wander + mains)
    core = slice(2 * fs, -2 * fs)
    assert np.abs(y[core]).max() < 0.03  # mV: over 97 % of 1.1 mV wander and all mains gone


def test_filter_keeps_qrs_amplitude(ecg):
    y = filter_ecg(ecg)
    ref = np.asarray(read_record(FIXTURES / "e208").signal)
    ref = ref - np.median(ref)
    # R waves of a few mV survive (within 25 %): the filter does not eat QRS
    assert 0.75 < np.percentile(np.abs(y), 99.9) / np.percentile(np.abs(ref), 99.9) < 1.25


# -- resampler ---------------------------------------------------------------

@pytest.mark.parametrize("fs", [125, 250, 500, 1000])
def test_resampler_matches_scipy_away_from_edges_and_is_block_invariant(fs):
    rng = np.random.default_rng(fs)
    x = np.cumsum(rng.normal(size=fs * 10))
    r = Resampler(fs, 360)
    streamed = feed_in_blocks(r, x, rng, 300)
    reference = resample_poly(x, r.up, r.down)
    assert streamed.size == reference.size == int(np.ceil(x.size * 360 / fs))
    np.testing.assert_allclose(streamed[400:-400], reference[400:-400], rtol=0, atol=1e-9)
    once = Resampler(fs, 360)
    np.testing.assert_array_equal(np.concatenate([once.process(x), once.flush()]), streamed)


def test_resampler_removes_what_would_alias():
    fs = 1000
    t = np.arange(20 * fs) / fs
    tone = np.sin(2 * np.pi * 300 * t)  # above 180 Hz: would fold to 60 Hz at 360 Hz
    r = Resampler(fs, 360)
    y = np.concatenate([r.process(tone), r.flush()])
    assert np.abs(y[400:-400]).max() < 0.01


def test_conditioner_at_device_rate_matches_offline():
    rec = read_record(FIXTURES / "e100")
    x = resample_poly(rec.signal, 25, 36)  # the record as a 250 Hz device would send it
    rng = np.random.default_rng(7)
    streamed = feed_in_blocks(Conditioner(250), x, rng, 100)
    np.testing.assert_allclose(streamed, condition(x, 250), rtol=0, atol=1e-12)
    assert streamed.size == int(np.ceil(x.size * 360 / 250))


def test_conditioner_reset_starts_a_new_segment():
    rec = read_record(FIXTURES / "e100")
    c = Conditioner(360)
    c.process(rec.signal[:5000])
    c.reset()
    after = np.concatenate([c.process(rec.signal[5000:9000]), c.flush()])
    np.testing.assert_allclose(after, condition(rec.signal[5000:9000], 360), atol=1e-12)


# -- leads -------------------------------------------------------------------

def test_lead_is_chosen_by_name_not_position():
    assert read_record(FIXTURES / "e114").lead == "MLII"  # V5 is first in 114
    assert read_record(FIXTURES / "e100").lead == "MLII"
    assert read_record(FIXTURES / "e102").lead == "V5"  # paced record without MLII


def test_no_usable_lead_is_an_error():
    with pytest.raises(SignalError, match="none of the leads"):
        choose_lead(["ABP", "RESP"])


# -- beat windows ------------------------------------------------------------

def test_beat_windows_are_centred_and_edge_beats_left_out():
    y = np.arange(2000, dtype=float)
    windows, kept = beat_windows(y, np.array([100, 600, 1900]))
    assert kept.tolist() == [False, True, False]
    assert windows.shape == (1, 512)
    assert windows[0, 256] == 600 and windows[0, 0] == 344


# -- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("x, fs, message", [
    (np.array([]), 360, "empty"),
    (np.ones(100), 360, "too short"),
    (np.full(3600, 1.5), 360, "constant"),
    (np.r_[np.zeros(10), np.nan, np.zeros(3600)], 360, "non-finite"),
    (np.array(["1"] * 3600), 360, "dtype"),
    (np.zeros((3600, 2)), 360, "1-D"),
    (np.random.default_rng(0).normal(size=3600), 0, "outside"),
    (np.random.default_rng(0).normal(size=3600), 360.5, "whole number"),
    (np.random.default_rng(0).normal(size=3600), "360", "number"),
])
def test_bad_input_is_refused_with_a_clear_error(x, fs, message):
    with pytest.raises(SignalError, match=message):
        condition(x, fs)


@pytest.mark.parametrize("numtaps, cutoff, window", [
    (121, 40 / 180, "hamming"), (721, 1 / 36, ("kaiser", 5.0)), (501, 1 / 25, ("kaiser", 5.0))])
def test_fir_design_is_scipys_firwin(numtaps, cutoff, window):
    """The gateway designs its FIR taps without importing scipy.signal (48 MiB on the Pi)."""
    from scipy.signal import firwin, get_window

    from gateway.signal.stream import lowpass_taps

    ours = lowpass_taps(numtaps, cutoff, get_window(window, numtaps, fftbins=False))
    np.testing.assert_allclose(ours, firwin(numtaps, cutoff, window=window), rtol=0, atol=1e-15)


def test_the_gateway_does_not_import_scipy_signal():
    import subprocess
    import sys

    code = "import sys, gateway.signal.chain, gateway.signal.rpeaks, gateway.processor; print('scipy.signal' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
