"""Synthetic ECG for tests that need a rhythm no fixture has (brady, tachy, long pauses).

Each beat is a sum of Gaussian waves (P, Q, R, S, T; McSharry et al. 2003
in spirit), the T wave placed by Bazett's QT scaling so fast rhythms stay
plausible; a little noise keeps the signal from being exactly periodic.
"""

from __future__ import annotations

import numpy as np

from gateway.signal.spec import MODEL_FS

#: (offset from R in s, amplitude in mV, width in s) of P, Q, R, S; T follows QT
WAVES = ((-0.18, 0.12, 0.025), (-0.025, -0.12, 0.010), (0.0, 1.3, 0.011), (0.028, -0.3, 0.010))


def synthetic_ecg(r_times: np.ndarray, duration: float, fs: int = MODEL_FS, seed: int = 0) -> np.ndarray:
    """mV samples of ``duration`` s with an R peak at each of ``r_times`` (seconds)."""
    t = np.arange(int(round(duration * fs))) / fs
    y = np.zeros_like(t)
    r_times = np.asarray(r_times, dtype=float)
    for i, r in enumerate(r_times):
        rr = r_times[i] - r_times[i - 1] if i else 0.8
        waves = WAVES + ((0.3 * np.sqrt(min(rr, 2.0)), 0.3, 0.05),)
        for offset, amp, width in waves:
            # only the samples near the wave are looked at (the same samples as over the whole record)
            lo = max(int(np.floor((r + offset - 5 * width) * fs)) - 2, 0)
            hi = max(int(np.ceil((r + offset + 5 * width) * fs)) + 3, lo)
            tt, yy = t[lo:hi], y[lo:hi]
            near = np.abs(tt - r - offset) < 5 * width
            yy[near] += amp * np.exp(-0.5 * ((tt[near] - r - offset) / width) ** 2)
    return y + np.random.default_rng(seed).normal(0, 0.01, t.size)


def regular_beats(bpm: float, duration: float, first: float = 0.5) -> np.ndarray:
    """R-peak times of a regular rhythm at ``bpm``."""
    return np.arange(first, duration - 0.3, 60.0 / bpm)
