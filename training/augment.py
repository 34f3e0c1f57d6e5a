"""Training-time augmentation of beat windows, on the signal before it is rendered.

The seed made five extra copies of each beat: the window multiplied by two
quadratic envelopes, the window time-stretched by 1.25 around its R peak,
and the stretched window multiplied by two more envelopes.  Here each
training draw picks one of those six variants (the original included) and
adds what the Pi's electrodes add in the field: a random gain (it moves
the beat relative to the added noise, since images are autoscaled per
beat), slow baseline wander and white noise.  Everything is drawn from a
``numpy.random.Generator``, so a seed fixes the whole epoch.
"""

from __future__ import annotations

import numpy as np

from gateway.signal.spec import MODEL_FS, WINDOW, WINDOW_BEFORE

#: Seed's time-stretch factor (the beat gets 25 % wider around the R peak).
STRETCH = 1.25
#: Seed's envelopes as polynomial coefficients (highest power first) in x,
#: the position across the window from 0 to 1.
ENVELOPES_ORIGINAL = ((0.3, 0.7, 0.2), (-0.2, -0.5, 0.8))
ENVELOPES_STRETCHED = ((0.4, 0.9, 0.3), (-0.3, -0.6, 0.7))
#: Field perturbations: gain range, wander amplitude (mV) and frequency (Hz),
#: white noise standard deviation (mV).
GAIN_RANGE = (0.7, 1.4)
WANDER_MV = 0.15
WANDER_HZ = (0.1, 0.6)
NOISE_MV = 0.02

_X = np.linspace(0.0, 1.0, WINDOW)
#: The six seed variants: envelope per variant (ones = none) and whether it is stretched.
VARIANT_ENVELOPES = np.stack([np.ones(WINDOW), *(np.polyval(c, _X) for c in ENVELOPES_ORIGINAL),
                              np.ones(WINDOW), *(np.polyval(c, _X) for c in ENVELOPES_STRETCHED)])
VARIANT_STRETCHED = np.array([False, False, False, True, True, True])


def time_stretch(windows: np.ndarray, factor: float = STRETCH) -> np.ndarray:
    """Stretch each window in time by ``factor`` around its R peak, keeping the peak centred.

    Output sample ``i`` takes the input at ``peak + (i - peak) / factor``
    (linear interpolation), so with ``factor > 1`` everything comes from
    inside the original window.
    """
    if factor < 1:
        raise ValueError(f"stretch factor must be >= 1 (no samples outside the window), got {factor}")
    src = WINDOW_BEFORE + (np.arange(WINDOW) - WINDOW_BEFORE) / factor
    left = np.floor(src).astype(np.intp)
    frac = src - left
    right = np.minimum(left + 1, WINDOW - 1)
    w = np.asarray(windows, dtype=np.float64)
    return w[..., left] * (1 - frac) + w[..., right] * frac


def augment(windows: np.ndarray, rng: np.random.Generator, stretch: bool = True) -> np.ndarray:
    """One random augmented copy of each window (see the module docstring).

    ``stretch=False`` draws only the three unstretched seed variants: the
    stretch moves the neighbouring R peaks by 25 %, which blurs the RR
    spacing that tells a premature beat from a normal one.
    """
    w = np.asarray(windows, dtype=np.float64)
    n = w.shape[0]
    choices = np.flatnonzero(~VARIANT_STRETCHED | stretch)
    variant = rng.choice(choices, size=n)
    out = w.copy()
    stretched = VARIANT_STRETCHED[variant]
    if stretched.any():
        out[stretched] = time_stretch(w[stretched])
    out *= VARIANT_ENVELOPES[variant]
    out *= rng.uniform(*GAIN_RANGE, size=(n, 1))
    t = np.arange(WINDOW) / MODEL_FS
    freq = rng.uniform(*WANDER_HZ, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    out += rng.uniform(0, WANDER_MV, size=(n, 1)) * np.sin(2 * np.pi * freq * t + phase)
    out += rng.normal(0, NOISE_MV, size=out.shape)
    return out
