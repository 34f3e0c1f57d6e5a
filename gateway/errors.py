"""Input validation shared by every signal step, with errors that say what is wrong."""

from __future__ import annotations

import numpy as np


class SignalError(ValueError):
    """A signal that no step of the chain can work on (and why)."""


def as_signal(x: object, name: str = "signal", *, min_len: int = 1, allow_constant: bool = True) -> np.ndarray:
    """Return ``x`` as a 1-D float64 array, or raise :class:`SignalError` naming the problem.

    Integer and float arrays are accepted (ADC counts or millivolts); bool,
    complex, object and string data are refused rather than silently cast.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        raise SignalError(f"{name}: expected integer or float samples, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise SignalError(f"{name}: expected a 1-D array of samples, got shape {arr.shape}")
    if arr.size < min_len:
        what = "empty" if arr.size == 0 else f"too short ({arr.size} samples)"
        raise SignalError(f"{name}: {what}; at least {min_len} samples are needed")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SignalError(f"{name}: {int(bad.sum())} non-finite samples (NaN or inf), first at index {first}")
    if not allow_constant and arr.size and np.ptp(arr) == 0:
        raise SignalError(f"{name}: the signal is constant ({arr[0]:g}); is the lead connected?")
    return arr


def check_rate(fs: object, name: str = "sample rate") -> int:
    """Return a device sample rate as int, refusing rates the chain cannot use."""
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.integer, np.floating)):
        raise SignalError(f"{name}: expected a number in Hz, got {fs!r}")
    if not np.isfinite(fs) or fs != int(fs):
        raise SignalError(f"{name}: must be a whole number of Hz, got {fs!r}")
    if not 50 <= fs <= 10_000:
        raise SignalError(f"{name}: {fs!r} Hz is outside 50..10000 Hz")
    return int(fs)
