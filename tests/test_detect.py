"""The R-peak detector: what it finds, where it puts it, and what it ignores."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import wfdb
from wfdb.processing import compare_annotations

from gateway.signal.chain import condition
from gateway.signal.rpeaks import RPeakDetector, detect_rpeaks
from gateway.errors import SignalError
from gateway.signal.leads import read_record
from gateway.signal.spec import MODEL_FS

FIXTURES = Path(__file__).parent / "fixtures" / "mitdb"
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
FS = MODEL_FS
#: matching windows (max |detection - reference|), in samples
WIN_150MS = int(0.15 * FS)
WIN_50MS = int(0.05 * FS)


@lru_cache(maxsize=None)
def fixture(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Conditioned signal and reference beat positions of one committed excerpt."""
    rec = read_record(FIXTURES / name)
    ann = wfdb.rdann(str(FIXTURES / name), "atr")
    ref = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS], dtype=np.int64)
    return condition(rec.signal, rec.fs), ref


def stream(det: RPeakDetector, y: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Feed ``y`` cut at ``sizes`` (cycled), then flush; all peaks in order."""
    out, i, j = [], 0, 0
    while i < y.size:
        n = int(sizes[j % sizes.size])
        out.append(det.process(y[i: i + n]))
        i, j = i + n, j + 1
    out.append(det.flush())
    return np.concatenate(out)


# ----------------------------------------------------------- the interface
def test_peaks_are_int64_ascending_inside_the_signal():
    y, _ = fixture("e100")
    peaks = detect_rpeaks(y)
    assert peaks.dtype == np.int64
    assert np.all(np.diff(peaks) > 0)
    assert peaks[0] >= 0 and peaks[-1] < y.size


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", ["e233", "e207", "e203"])
def test_streaming_equals_offline_whatever_the_block_sizes(name, seed):
    y = fixture(name)[0][: 60 * FS]
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, [7, 90, 400, 3000][seed], size=50)
    assert np.array_equal(stream(RPeakDetector(), y, sizes), detect_rpeaks(y))


def test_no_peak_comes_later_than_the_stated_lookahead():
    """Fed one sample at a time, a peak is out at most ``lookahead`` samples after it (<= 0.5 s)."""
    y, _ = fixture("e233")
    det = RPeakDetector()
    assert det.lookahead <= 0.5 * FS
    late = [n - p for n in range(20 * FS) for p in det.process(y[n: n + 1])]
    assert len(late) > 20 and max(late) <= det.lookahead


def test_empty_and_short_segments():
    """Nothing in, nothing out; a segment shorter than the look-ahead still gives its beat at flush."""
    det = RPeakDetector()
    assert det.process(np.empty(0)).dtype == np.int64 and det.flush().size == 0
    y, ref = fixture("e100")
    first = int(ref[1])
    short = y[first - 100: first + 60]  # one beat, 60 samples before the end
    assert short.size < 100 + det.lookahead
    assert det.process(short).size == 0
    peaks = det.flush()
    assert peaks.size == 1 and abs(int(peaks[0]) - 100) <= 3


def test_reset_starts_a_new_segment_from_index_zero():
    y, _ = fixture("e100")
    det = RPeakDetector()
    first = stream(det, y, np.array([500]))
    again = stream(det, y, np.array([777]))
    assert np.array_equal(first, again)


@pytest.mark.parametrize("gain", [0.25, 4.0])
@pytest.mark.parametrize("name", ["e233", "e203"])
def test_the_device_gain_does_not_matter(name, gain):
    """Thresholds adapt to the signal: a front end 4 times weaker or stronger finds the same peaks."""
    y, _ = fixture(name)
    assert np.array_equal(detect_rpeaks(gain * y), detect_rpeaks(y))


def test_works_at_other_sample_rates():
    """Durations are in seconds: the same excerpt at 250 Hz finds the same beats."""
    from scipy.signal import resample_poly

    y, ref = fixture("e233")
    peaks = detect_rpeaks(resample_poly(y, 25, 36), fs=250)
    c = compare_annotations(np.round(ref * 250 / FS).astype(np.int64), peaks, int(0.15 * 250))
    assert c.tp / ref.size >= 0.99 and c.tp / peaks.size >= 0.99


# --------------------------------------------------- accuracy on MIT-BIH
#: excerpts with beats throughout (e207's flutter is tested separately)
SCORED = ["e100", "e102", "e105", "e109", "e114", "e118", "e119", "e203", "e208", "e232", "e233"]


@pytest.mark.parametrize("name", SCORED)
def test_finds_the_annotated_beats_on_each_excerpt(name):
    """Every excerpt, hard ones included (203: AF, VT and noise; 232: pauses with noise):
    Se and +P of at least 93 % (missing or adding one beat in 14 fails)."""
    y, ref = fixture(name)
    c = compare_annotations(ref, detect_rpeaks(y), WIN_150MS)
    assert c.tp / (c.tp + c.fn) >= 0.93, f"sensitivity {c.tp}/{c.tp + c.fn}"
    assert c.tp / (c.tp + c.fp) >= 0.93, f"positive predictivity {c.tp}/{c.tp + c.fp}"


def test_total_sensitivity_and_predictivity_over_the_excerpts():
    """About 900 beats: at least 99 % Se and +P (at most about 9 misses and 9 false peaks)."""
    tp = fp = fn = 0
    for name in SCORED:
        y, ref = fixture(name)
        c = compare_annotations(ref, detect_rpeaks(y), WIN_150MS)
        tp, fp, fn = tp + c.tp, fp + c.fp, fn + c.fn
    assert tp / (tp + fn) >= 0.99
    assert tp / (tp + fp) >= 0.99


def test_fires_on_few_ventricular_flutter_waves():
    """e207's two flutter episodes hold 44 flutter waves and no beats: at most a third
    of them may be reported (a detector that follows the oscillation reports all)."""
    y, _ = fixture("e207")
    ann = wfdb.rdann(str(FIXTURES / "e207"), "atr")
    waves = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym == "!"])
    episodes = [(10.8, 21.1), (24.9, 30.6)]  # seconds, the (VFL rhythm marks
    peaks = detect_rpeaks(y)
    inside = sum(np.sum((peaks >= a * FS) & (peaks < b * FS)) for a, b in episodes)
    assert waves.size == 44
    assert inside <= waves.size // 3


@pytest.mark.parametrize("name", ["e100", "e109", "e118", "e233"])
def test_peaks_sit_on_the_reference_r_peaks(name):
    """The beat image is centred on the peak: most must be within 50 ms, typically a few samples."""
    y, ref = fixture(name)
    peaks = detect_rpeaks(y)
    c = compare_annotations(ref, peaks, WIN_50MS)
    assert c.tp / ref.size >= 0.97
    nearest = np.abs(peaks[np.clip(np.searchsorted(peaks, ref), 0, peaks.size - 1)] - ref)
    nearest = np.minimum(nearest, np.abs(peaks[np.clip(np.searchsorted(peaks, ref) - 1, 0, peaks.size - 1)] - ref))
    assert np.median(nearest) <= 3


# ------------------------------------------------- staying quiet on non-ECG
def test_flat_line_gives_no_peaks():
    assert detect_rpeaks(np.zeros(30 * FS)).size == 0
    assert detect_rpeaks(np.full(30 * FS, 1.7)).size == 0


def test_quantisation_noise_alone_gives_no_peaks():
    """An unplugged lead: +-1 LSB of a 12-bit ADC (about 5 uV) and nothing else."""
    rng = np.random.default_rng(1)
    assert detect_rpeaks(rng.integers(-1, 2, 30 * FS) * 0.005).size == 0


def test_signal_pinned_at_a_rail_gives_no_peaks_while_pinned():
    """Electrode off: the front end saturates; after the edge nothing is a beat."""
    raw = read_record(FIXTURES / "e100").signal
    a, b = 20 * FS, 40 * FS
    raw = raw.copy()
    raw[a:b] = 3.3  # pinned at the rail
    peaks = detect_rpeaks(condition(raw, FS))
    inside = peaks[(peaks > a + FS) & (peaks < b - FS)]
    assert inside.size == 0
    assert np.sum(peaks > b + FS) >= 15  # and beats come back after it


def false_peaks(peaks: np.ndarray, ref: np.ndarray, a: int, b: int) -> int:
    """Detections in [a, b) farther than 150 ms from every reference beat."""
    inside = peaks[(peaks >= a) & (peaks < b)]
    return int(sum(np.min(np.abs(ref - p)) > WIN_150MS for p in inside))


def test_noise_burst_over_the_ecg_gives_at_most_a_few_false_peaks():
    """5 s of 1 mV-rms broadband noise added to the ECG: at most 2 false detections in it."""
    raw = read_record(FIXTURES / "e100").signal.copy()
    _, ref = fixture("e100")
    a, b = 20 * FS, 25 * FS
    raw[a:b] += np.random.default_rng(7).normal(0, 1.0, b - a)
    assert false_peaks(detect_rpeaks(condition(raw, FS)), ref, a, b) <= 2


@pytest.mark.parametrize("rms", [0.05, 0.3, 2.0])
def test_noise_burst_alone_gives_at_most_a_few_peaks(rms):
    """Electrode motion with no ECG: 10 s of noise between flat stretches, at most 3 detections
    (the burst's first second can pass for beats until the 2 s look-back fills with noise)."""
    rng = np.random.default_rng(3)
    raw = np.zeros(30 * FS)
    a, b = 10 * FS, 20 * FS
    raw[a:b] = rng.normal(0, rms, b - a)
    assert detect_rpeaks(condition(raw, FS)).size <= 3


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [
    np.array([0.1, np.nan, 0.2]),
    np.array([0.1, np.inf]),
    np.zeros((10, 2)),
    np.array(["a", "b"]),
    np.array([True, False]),
])
def test_bad_input_raises_a_signal_error(bad):
    with pytest.raises(SignalError):
        RPeakDetector().process(bad)
    with pytest.raises(SignalError):
        detect_rpeaks(bad)


def test_bad_sample_rate_raises_a_signal_error():
    with pytest.raises(SignalError):
        RPeakDetector(fs=0)
