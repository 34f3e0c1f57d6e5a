"""Can beat labels be read in this window?  QRS amplitude against the noise between QRS complexes.

The kurtosis test (:func:`gateway.signal.quality.noisy_window`, Li, Clifford
& Mark's kSQI) catches noise that swamps the ECG, but in muscle artefact at
12 dB (EC57's noise stress test) the QRS spikes still dominate a 4 s window,
its kurtosis stays well above 5, and the R-peak detector takes bursts of
the artefact in a long RR interval for beats that the classifier calls
ventricular: false runs of three.  What such a window does show is noise
*between* the QRS complexes that is large against their amplitude; that is
the signal-to-noise ratio the noise stress test itself is defined by (QRS
peak-to-peak against noise RMS, WFDB ``nst``), and a local SNR estimate of
this kind is what Smital et al. (IEEE TBME 67(10), 2020) grade ECG quality
with.

The estimate here is cheap enough to run on every window and needs no
beat positions: the signal is the window's 0.5-99.5 percentile range (the
QRS amplitude, robust to one outlier sample), the noise the median absolute
sample-to-sample difference of the filtered signal.  QRS complexes occupy
well under a fifth of a window's samples, so the median difference is that
of the baseline between them: tiny on clean ECG (P and T waves are slow at
360 Hz), and proportional to the noise's RMS for broadband artefact.  The
ratio is scale-free (gain, amplitude in mV), and its limit was chosen on
validation records only (docs/alerts.md).
"""

from __future__ import annotations

import numpy as np

#: Below this QRS-to-noise ratio a window's beat labels are not evidence
#: (chosen on MIT-BIH DS1 records outside the noise benchmark, nstdb ``ma``
#: channel 0 at 18/12/6 dB; docs/alerts.md gives the distributions).
QRS_NOISE_MIN = 100.0


def qrs_noise_ratio(w: np.ndarray) -> float:
    """QRS amplitude over the sample-to-sample noise between the QRS complexes (inf if there is none)."""
    lo, hi = np.percentile(w, (0.5, 99.5))
    noise = float(np.median(np.abs(np.diff(w))))
    return float(hi - lo) / noise if noise > 0 else float("inf")


def unreadable_window(w: np.ndarray, ratio_min: float = QRS_NOISE_MIN) -> bool:
    """True when the QRS complexes do not stand far enough out of the noise for their labels to count."""
    return qrs_noise_ratio(w) < ratio_min
