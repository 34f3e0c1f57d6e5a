"""The flutter/fibrillation detector: finds the e207 flutter, quiet on other rhythms, streams exactly."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from gateway.signal.chain import condition
from gateway.errors import SignalError
from gateway.signal.leads import read_record
from gateway.signal.rhythm import RhythmConfig, VFDetector, detect_vf, vf_leakage
from reference_classifier import FIXTURES

FS = 360


def filtered(name: str) -> np.ndarray:
    rec = read_record(FIXTURES / name)
    return condition(rec.signal, rec.fs)


def flutter_episodes(name: str) -> list[tuple[float, float]]:
    """The reference ``(VFL`` episodes of an excerpt, in seconds."""
    ann = wfdb.rdann(str(FIXTURES / name), "atr")
    episodes, start = [], None
    for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note):
        if sym != "+":
            continue
        if aux.strip("\x00") == "(VFL":
            start = s / FS
        elif start is not None:
            episodes.append((start, s / FS))
            start = None
    return episodes


def test_e207_flutter_episodes_are_confirmed_inside_each_episode():
    windows = detect_vf(filtered("e207"))
    episodes = flutter_episodes("e207")
    assert len(episodes) == 2
    for start, end in episodes:
        hits = [w.end / FS for w in windows if w.vf and start < w.end / FS <= end + 1]
        assert hits, f"episode {start:.1f}-{end:.1f} s missed"
        assert hits[0] - start < 8.0  # confirmed within 8 s of the onset
    confirmed = [w.end / FS for w in windows if w.vf]
    outside = [t for t in confirmed if not any(s < t <= e + 4 for s, e in episodes)]
    assert outside == []


@pytest.mark.parametrize("name", ["e100", "e233", "e119", "e203", "e105", "e208"])
def test_quiet_on_other_rhythms(name):
    assert not [w for w in detect_vf(filtered(name)) if w.vf]


def test_streaming_equals_offline_whatever_the_blocks():
    y = filtered("e207")
    offline = detect_vf(y)
    detector = VFDetector()
    streamed, i = [], 0
    for n in np.random.default_rng(7).integers(1, 1500, 400):
        streamed += detector.process(y[i:i + n])
        i += n
        if i >= y.size:
            break
    assert streamed == offline
    assert [w.end for w in offline] == list(range(4 * FS, y.size + 1, FS))


def test_leakage_separates_a_sine_from_a_spiky_rhythm():
    t = np.arange(4 * FS) / FS
    assert vf_leakage(np.sin(2 * np.pi * 4.5 * t)) < 0.2
    assert vf_leakage(filtered("e100")[: 4 * FS]) > 0.8
    assert vf_leakage(np.zeros(100)) == 1.0


def test_noise_verdict_on_white_noise_and_clean_ecg():
    rng = np.random.default_rng(1)
    noise = detect_vf(rng.normal(0, 0.3, 10 * FS))
    clean = detect_vf(filtered("e100")[: 10 * FS])
    assert all(w.noisy for w in noise) and not any(w.noisy for w in clean)


def test_bad_input_and_config():
    with pytest.raises(SignalError, match="non-finite"):
        VFDetector().process(np.array([0.0, np.inf]))
    with pytest.raises(ValueError, match="step_s"):
        RhythmConfig(step_s=5.0)
    with pytest.raises(ValueError, match="confirm"):
        RhythmConfig(confirm=0)
