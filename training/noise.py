"""Recorded electrode noise (MIT-BIH Noise Stress Test Database) added to a record at a chosen SNR.

The noise goes into the *raw* signal, at the record's own rate, before the
gateway chain resamples, filters and detects: so the detector misses or
invents beats in it, the context features see the jitter, and the images
show what the filter leaves of it, as on the Pi.

The SNR follows the rule of the WFDB program ``nst``: the signal's size
comes from its QRS complexes, their peak-to-peak amplitude taken as a
sinusoid's (power = amplitude^2 / 8), the noise's from its mean square;
the noise is scaled to give the SNR asked for.  The QRS amplitude here is
the median, over the record's reference beats, of the peak-to-peak within
+-:data:`QRS_HALF_S` of each beat (a median, so a few noisy or clipped
beats do not set it).  Unlike the database's own test records (noise in
alternating 2-minute segments after 5 clean minutes), the noise covers the
whole record, which is the harder case for the context features.

``bw`` (baseline wander) and ``ma`` (muscle artefact) each have two
channels recorded at once.  Training draws only from channel
:data:`TRAIN_CHANNEL` and evaluation only from :data:`EVAL_CHANNEL`, so a
test never meets a noise sample the model was trained with.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Noise records used (``em``, electrode motion, is not in the shared copy).
NOISE_KINDS = ("bw", "ma")
NOISE_FS = 360
#: Samples in each nstdb noise record (30 min at 360 Hz); offsets are drawn below it.
NOISE_LENGTH = 650_000
TRAIN_CHANNEL = 0
EVAL_CHANNEL = 1
#: SNRs training draws from (uniformly, in dB): from barely visible noise to nst's 6 dB.
TRAIN_SNR_DB = (6.0, 24.0)
#: SNRs the noise evaluation reports.
EVAL_SNR_DB = (18.0, 12.0, 6.0)
#: Half-width of the window each QRS's peak-to-peak amplitude is taken in.
QRS_HALF_S = 0.05


@dataclass(frozen=True)
class NoiseSpec:
    """Which noise, from which channel, how strong, and where in the noise record it starts."""

    kind: str
    channel: int
    snr_db: float
    offset: int  # start sample in the 360 Hz noise record (it wraps around)

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"unknown noise {self.kind!r}; expected one of {NOISE_KINDS}")
        if self.channel not in (TRAIN_CHANNEL, EVAL_CHANNEL):
            raise ValueError(f"noise channel must be {TRAIN_CHANNEL} or {EVAL_CHANNEL}, got {self.channel}")

    @property
    def tag(self) -> str:
        """A file-name-safe name, e.g. ``ma0_12.5dB_301234``."""
        return f"{self.kind}{self.channel}_{self.snr_db:.1f}dB_{self.offset}"


@lru_cache(maxsize=4)
def read_noise(noise_dir: str, kind: str, channel: int) -> np.ndarray:
    """One channel of an nstdb noise record in mV, mean removed (read once per process)."""
    import wfdb

    rec = wfdb.rdrecord(str(Path(noise_dir) / kind), channels=[channel])
    if int(rec.fs) != NOISE_FS:
        raise ValueError(f"{noise_dir}/{kind}: expected {NOISE_FS} Hz noise, got {rec.fs} Hz")
    x = rec.p_signal[:, 0].astype(np.float64)
    return x - x.mean()


def qrs_power(signal: np.ndarray, beat_samples: np.ndarray, fs: int) -> float:
    """nst's signal power: (median QRS peak-to-peak)^2 / 8, from the reference beats."""
    half = max(1, round(QRS_HALF_S * fs))
    beats = np.asarray(beat_samples, dtype=np.int64)
    beats = beats[(beats >= half) & (beats + half < signal.size)]
    if beats.size == 0:
        raise ValueError("no reference beat far enough from the record ends to measure the QRS amplitude")
    segments = signal[beats[:, None] + np.arange(-half, half + 1)[None, :]]
    ptp = np.median(segments.max(axis=1) - segments.min(axis=1))
    return float(ptp) ** 2 / 8.0


def noise_at(spec: NoiseSpec, n: int, fs: int, noise_dir: str | Path) -> np.ndarray:
    """``n`` samples of the spec's noise at ``fs`` (resampled from 360 Hz; unscaled), starting at its offset."""
    from scipy.signal import resample_poly

    x = read_noise(str(noise_dir), spec.kind, spec.channel)
    x = np.roll(x, -spec.offset)
    if fs != NOISE_FS:
        g = np.gcd(fs, NOISE_FS)
        x = resample_poly(x, fs // g, NOISE_FS // g)
    return np.resize(x, n)


def add_noise(signal: np.ndarray, fs: int, beat_samples: np.ndarray, spec: NoiseSpec,
              noise_dir: str | Path) -> np.ndarray:
    """``signal`` (mV, at ``fs``) plus the spec's noise scaled to its SNR against the QRS power."""
    signal = np.asarray(signal, dtype=np.float64)
    noise = noise_at(spec, signal.size, fs, noise_dir)
    gain = np.sqrt(qrs_power(signal, beat_samples, fs) / (np.mean(noise ** 2) * 10 ** (spec.snr_db / 10)))
    return signal + gain * noise


def _rng(record: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(record.encode())])


def training_noise(record: str, copies: int, seed: int) -> list[NoiseSpec]:
    """``copies`` noise draws for a training record: kind, SNR in :data:`TRAIN_SNR_DB`, offset; channel 0.

    Drawn from ``(seed, record)``, so a record gets the same noisy copies
    (and cache files) in every run with that seed.
    """
    rng = _rng(record, seed)
    return [NoiseSpec(str(rng.choice(NOISE_KINDS)), TRAIN_CHANNEL, round(float(rng.uniform(*TRAIN_SNR_DB)), 1),
                      int(rng.integers(NOISE_LENGTH))) for _ in range(copies)]


def evaluation_noise(record: str, kind: str, snr_db: float) -> NoiseSpec:
    """The evaluation noise of a test record: channel 1, an offset fixed by the record's name."""
    return NoiseSpec(kind, EVAL_CHANNEL, float(snr_db), int(_rng(record, 0).integers(NOISE_LENGTH)))
