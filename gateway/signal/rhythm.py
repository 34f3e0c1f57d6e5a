"""Ventricular flutter / fibrillation from the signal itself, on sliding windows.

R-peak detection breaks down in flutter and fibrillation (there are no QRS
complexes to find, and a good detector deliberately stays quiet on
sine-like waves), so this detector never looks at beats.  Every
``step_s`` it analyses the last ``window_s`` seconds of the filtered 360 Hz
signal with two classic features:

* **VF-filter leakage** (Kuo & Dillman 1978): a notch filter tuned to the
  window's mean frequency (estimated from the ratio of the mean absolute
  value to the mean absolute slope) removes nearly all of a sinusoid-like
  flutter wave and little of a spiky QRS rhythm; ``leakage < 0.625`` (their
  threshold) says "sine-like".
* **Spectral concentration**: the share of the 0.5-30 Hz power that lies
  in 2.5-8 Hz (150-480 /min), where flutter and fibrillation waves live
  while QRS complexes spread their power up to 30 Hz and beyond.

A window is ``vf_like`` when both hold and its peak-to-peak exceeds
``min_ptp_mv`` (a low-level noise floor is not fibrillation); ``vf`` is
confirmed when ``confirm`` consecutive windows are ``vf_like``.  The
thresholds were chosen on the MIT-BIH DS1 records; ``python -m bench.vf``
scores the alerts they drive through the whole processor on the MIT-BIH
Malignant Ventricular Ectopy Database (vfdb) and all 48 MIT-BIH records
(docs/vf.md; trials of other thresholds there were chosen against).  Each window also
carries a noise verdict (:func:`gateway.signal.quality.noisy_window`) and
a readability verdict for beat labels (:func:`gateway.signal.sqi.unreadable_window`).

Windows end at multiples of ``step`` samples from the segment's start, so
streaming equals offline whatever the block sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import as_signal
from .quality import NOISE_KURTOSIS, noisy_window
from .sqi import QRS_NOISE_MIN, unreadable_window
from .spec import MODEL_FS


@dataclass(frozen=True)
class RhythmConfig:
    """Parameters of the flutter/fibrillation detector (defaults chosen on DS1)."""

    window_s: float = 4.0
    step_s: float = 1.0
    leakage_max: float = 0.625  # Kuo & Dillman's threshold
    band_hz: tuple[float, float] = (2.5, 8.0)
    concentration_min: float = 0.75  # share of 0.5-30 Hz power in band_hz
    min_ptp_mv: float = 0.15
    confirm: int = 2  # consecutive vf_like windows that confirm VF
    noise_kurtosis: float = NOISE_KURTOSIS
    qrs_noise_min: float = QRS_NOISE_MIN  # QRS-to-noise ratio below which beat labels are held

    def __post_init__(self) -> None:
        if not 0 < self.step_s <= self.window_s:
            raise ValueError(f"step_s: must be > 0 and <= window_s ({self.window_s}), got {self.step_s!r}")
        if not 0.5 <= self.band_hz[0] < self.band_hz[1] <= 30:
            raise ValueError(f"band_hz: expected 0.5 <= low < high <= 30, got {self.band_hz!r}")
        if self.confirm < 1:
            raise ValueError(f"confirm: must be >= 1, got {self.confirm!r}")
        if not self.qrs_noise_min >= 0:
            raise ValueError(f"qrs_noise_min: must be >= 0 (0 turns the test off), got {self.qrs_noise_min!r}")


@dataclass(frozen=True)
class RhythmWindow:
    """The verdict on one analysis window; ``end`` is exclusive, in segment samples."""

    end: int
    leakage: float
    concentration: float
    ptp: float
    vf_like: bool  # this window alone looks like flutter/fibrillation
    vf: bool  # confirmed: ``confirm`` consecutive vf_like windows end here
    noisy: bool  # looks like noise rather than ECG
    unreadable: bool = False  # noisy, or QRS too little above the noise between them for beat labels


def vf_leakage(w: np.ndarray, fs: int = MODEL_FS) -> float:
    """Kuo & Dillman's VF-filter leakage of window ``w`` (0 = pure sinusoid, ~1 = spiky)."""
    a = np.abs(w)
    slope = np.abs(np.diff(w)).sum()
    if slope <= 0:
        return 1.0
    half_period = max(1, int(np.floor(np.pi * a.sum() / slope + 0.5)))
    if half_period >= w.size:
        return 1.0
    num = np.abs(w[half_period:] + w[:-half_period]).sum()
    den = (a[half_period:] + a[:-half_period]).sum()
    return float(num / den) if den > 0 else 1.0


class VFDetector:
    """Streaming flutter/fibrillation detector on the filtered signal of one segment."""

    def __init__(self, config: RhythmConfig | None = None, fs: int = MODEL_FS):
        self.config = config or RhythmConfig()
        self.fs = fs
        self.window = int(round(self.config.window_s * fs))
        self.step = int(round(self.config.step_s * fs))
        freqs = np.fft.rfftfreq(self.window, 1 / fs)
        lo, hi = self.config.band_hz
        self._total = (freqs >= 0.5) & (freqs <= 30)
        self._band = (freqs >= lo) & (freqs <= hi)
        self._taper = np.hanning(self.window)
        self.reset()

    def reset(self) -> None:
        """Start a new segment."""
        self._buf = np.empty(0)
        self._n = 0  # samples fed in this segment
        self._run = 0  # consecutive vf_like windows

    def process(self, y: np.ndarray) -> list[RhythmWindow]:
        """Feed filtered samples; return the windows that completed, in order."""
        y = as_signal(y, "filtered samples", min_len=0)
        start = self._n - self._buf.size  # segment index of _buf[0]
        self._buf = np.concatenate([self._buf, y])
        self._n += y.size
        out = []
        end = max(self.window, -(-(start + self.window) // self.step) * self.step)
        while end <= self._n:
            out.append(self._judge(self._buf[end - self.window - start: end - start], end))
            end += self.step
        drop = max(0, end - self.window - start)  # samples no later window needs
        self._buf = self._buf[drop:]
        return out

    def _judge(self, w: np.ndarray, end: int) -> RhythmWindow:
        c = self.config
        spec = np.abs(np.fft.rfft(w * self._taper)) ** 2
        total = spec[self._total].sum()
        conc = float(spec[self._band].sum() / total) if total > 0 else 0.0
        leak = vf_leakage(w, self.fs)
        ptp = float(np.ptp(w))
        vf_like = leak < c.leakage_max and conc > c.concentration_min and ptp >= c.min_ptp_mv
        self._run = self._run + 1 if vf_like else 0
        noisy = noisy_window(w, c.noise_kurtosis)
        return RhythmWindow(end, leak, conc, ptp, vf_like, self._run >= c.confirm, noisy,
                            noisy or unreadable_window(w, c.qrs_noise_min))


def detect_vf(y: np.ndarray, fs: int = MODEL_FS, config: RhythmConfig | None = None) -> list[RhythmWindow]:
    """Offline: every analysis window of a whole filtered signal (the same detector over one block)."""
    return VFDetector(config, fs).process(y)
