"""The noise stress test's rules, as the WFDB program ``nst`` applies them (AAMI EC57's noise test).

``nst`` (G. Moody, WFDB Software Package, ``app/nst.c``; manual page
https://physionet.org/physiotools/wag/nst-1.htm) made the records of the
MIT-BIH Noise Stress Test Database, and EC57 asks for detectors to be run
on records made that way.  Its rules, read from ``nst.c`` and the
``sigamp.c`` it calls:

* **Signal size** (``sigamp -a atr``): the peak-to-peak amplitude of the
  record within +-50 ms of each of its first 300 beats that WFDB's
  ``map1`` calls NORMAL (every supraventricular beat: N L R B a J A S j e n
  and paced /), and the trimmed mean of those 300 (the lowest and highest
  5 % dropped).  Not a median, and not over the whole record.
* **Noise size** (``sigamp -r``): the RMS of each of the noise record's
  first 300 one-second windows, each window's own mean removed (so baseline
  offsets do not count), and the trimmed mean of those.  That is an
  amplitude, an RMS; the SNR uses its square.
* **Gain**: ``SNR = 10 log10(S / N)`` with ``S = A^2 / 8`` (the QRS
  peak-to-peak amplitude ``A`` taken as a sinusoid's) and ``N`` the noise
  RMS squared, i.e. ``gain = 10^(-SNR/20) * sqrt(2)/4 * A / rms``.
* **Protocol**: the first 5 minutes are left as they are; from 5:00 noise
  is added in alternating 2-minute segments (noisy 5:00-7:00, clean
  7:00-9:00, noisy 9:00-11:00, ...) to the end of the record.
* **Alignment**: ECG sample ``k`` gets noise sample ``k`` (the noise record
  is read in step from its start, and starts again from its beginning
  should it end first).
* **No steps**: wherever the gain switches (or the noise wraps) ``nst``
  shifts the output by a constant so that it does not jump there:
  ``output = ecg + gain(k) * noise(k) - z``, ``z`` changing by
  ``(new gain - old gain) * noise(k - 1)`` at a switch.  So the clean
  segments after the first noisy one are the ECG plus a constant.

The gain is set from the noise record's first 5 minutes, while the noise
added from 5:00 on comes from later in it, so the SNR a noisy segment
actually gets differs from the one asked for by as much as the noise record
is not stationary; :func:`segment_snr` measures it (``nst``'s rule applied to
the noise as added).
"""

from __future__ import annotations

import numpy as np

#: Beat symbols that ``sigamp`` measures: those WFDB's ``map1`` maps to NORMAL (``ecgmap.h``).
NORMAL_SYMBOLS = frozenset("NLRBaJASjen/")
#: How many beats / one-second windows ``sigamp`` measures (its ``NMAX``).
MEASUREMENTS = 300
#: Half-width of the window each QRS's peak-to-peak amplitude is taken in (``sigamp``'s default -d 0.05 0.05).
QRS_HALF_S = 0.05
#: Length of the windows the noise RMS is taken in (``sigamp -w`` default).
RMS_WINDOW_S = 1.0
#: Clean lead-in and length of the alternating segments (``nst``'s t0 and dt).
START_S = 300.0
SEGMENT_S = 120.0


def trimmed_mean(values: np.ndarray) -> float:
    """``sigamp``'s summary: the mean after dropping the lowest and highest ``n // 20`` values."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        raise ValueError("nothing to measure")
    cut = v.size // 20
    return float(v[cut:v.size - cut].mean())


def qrs_amplitude(signal: np.ndarray, beat_samples: np.ndarray, symbols: list[str], fs: int) -> float:
    """Peak-to-peak QRS amplitude the ``nst`` way (``sigamp -a``), in the signal's units."""
    half = int(round(QRS_HALF_S * fs))
    beats = [int(s) for s, sym in zip(beat_samples, symbols) if sym in NORMAL_SYMBOLS]
    beats = [s for s in beats if s - half >= 0 and s + half < signal.size][:MEASUREMENTS]
    if not beats:
        raise ValueError("no normal beat far enough from the record's ends to measure the QRS amplitude")
    windows = np.asarray(signal, dtype=np.float64)[np.asarray(beats)[:, None] + np.arange(-half, half + 1)]
    return trimmed_mean(windows.max(axis=1) - windows.min(axis=1))


def window_rms(x: np.ndarray, fs: int) -> np.ndarray:
    """RMS of each whole one-second window of ``x``, each window's mean removed."""
    w = int(round(RMS_WINDOW_S * fs))
    n = np.asarray(x, dtype=np.float64).size // w
    if n == 0:
        raise ValueError(f"fewer than {w} samples: no {RMS_WINDOW_S:g} s window to measure")
    windows = np.asarray(x, dtype=np.float64)[:n * w].reshape(n, w)
    return np.sqrt(((windows - windows.mean(axis=1, keepdims=True)) ** 2).mean(axis=1))


def rms_amplitude(noise: np.ndarray, fs: int) -> float:
    """Noise RMS the ``nst`` way (``sigamp -r``): trimmed mean over the first 300 one-second windows."""
    return trimmed_mean(window_rms(noise, fs)[:MEASUREMENTS])


def gain_for(snr_db: float, qrs_amp: float, noise_rms: float) -> float:
    """The noise gain ``nst`` uses for ``snr_db``: ``10^(-SNR/20) * sqrt(2)/4 * A / rms``."""
    if qrs_amp <= 0 or noise_rms <= 0:
        raise ValueError(f"amplitudes must be positive (QRS {qrs_amp}, noise RMS {noise_rms})")
    return 10.0 ** (-snr_db / 20.0) * np.sqrt(2.0) / 4.0 * qrs_amp / noise_rms


def snr_db(qrs_amp: float, noise_rms: float) -> float:
    """``10 log10((A^2 / 8) / rms^2)``: the SNR that a QRS amplitude and a noise RMS make."""
    return 10.0 * np.log10(qrs_amp ** 2 / 8.0 / noise_rms ** 2)


def noisy_segments(n: int, fs: int, start_s: float = START_S, segment_s: float = SEGMENT_S) -> list[tuple[int, int]]:
    """Sample ranges ``[a, b)`` that get noise: from ``start_s``, every other ``segment_s``, to sample ``n``."""
    start, step = int(round(start_s * fs)), int(round(segment_s * fs))
    return [(a, min(a + step, n)) for a in range(start, n, 2 * step)]


def added_noise(noise: np.ndarray, n: int, gain: float, segments: list[tuple[int, int]]) -> np.ndarray:
    """What ``nst`` adds to an ``n``-sample ECG: ``gain * noise`` in ``segments``, minus its no-step offsets."""
    noise = np.asarray(noise, dtype=np.float64)
    if noise.size == 0:
        raise ValueError("the noise record is empty")
    source = np.resize(noise, n)  # noise sample k for ECG sample k, from its start again where it ends
    g = np.zeros(n)
    for a, b in segments:
        g[a:b] = gain
    out = g * source
    offset = np.zeros(n)
    events = sorted({s for seg in segments for s in seg if 0 < s < n} | set(range(noise.size, n, noise.size)))
    z = 0.0
    for s in events:
        if g[s] != g[s - 1]:  # the gain switches: nst keeps the output where it was
            z += (g[s] - g[s - 1]) * source[s - 1]
        if s % noise.size == 0:  # the noise starts again: the sample at the join repeats the last
            z += g[s] * (source[s] - source[s - 1])
        offset[s:] = z
    return out - offset


def blend(noises: list[np.ndarray], fs: int) -> np.ndarray:
    """Several noise records in equal parts: each divided by its ``nst`` RMS, then summed."""
    n = min(len(x) for x in noises)
    return sum(np.asarray(x[:n], dtype=np.float64) / rms_amplitude(x, fs) for x in noises)


def segment_snr(added: np.ndarray, segments: list[tuple[int, int]], qrs_amp: float, fs: int) -> float:
    """The SNR the noisy segments got: ``qrs_amp`` against the trimmed-mean 1 s RMS of ``added`` inside them."""
    rms = np.concatenate([window_rms(added[a:b], fs) for a, b in segments if b - a >= RMS_WINDOW_S * fs])
    return snr_db(qrs_amp, trimmed_mean(rms))
