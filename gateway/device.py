"""What a device declared at the handshake, and its front end: ADC counts to millivolts.

``mV = (count - zero) * vref / 2**bits / gain * 1000``
with ``zero`` = mid-scale by default (the AD8232 output sits at its
reference, half the supply).  The kit (AD8232 at 1100 V/V, 3.3 V, 12 bits)
resolves 0.73 uV per count over +-1.5 mV; a replayed MIT-BIH record needs a
wider range (e.g. ``gain = 300``: +-5.5 mV at 2.7 uV per count).
:meth:`DeviceStream.mv_to_counts` is the inverse the replayer uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SignalError, check_rate


@dataclass(frozen=True)
class DeviceStream:
    """What the device declared at the handshake, plus its front-end settings from the config."""

    device_id: str
    patient_id: str
    fs: int  # declared sample rate, Hz
    adc_bits: int = 12
    reports_lead_off: bool = False
    gain: float = 1100.0  # front-end gain, V/V (AD8232 on the kit)
    vref: float = 3.3  # ADC full scale, volts
    zero: float | None = None  # count that means 0 mV; None = mid-scale

    def __post_init__(self) -> None:
        for name in ("device_id", "patient_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise SignalError(f"{name}: expected a non-empty string, got {value!r}")
        object.__setattr__(self, "fs", check_rate(self.fs, "fs"))
        if isinstance(self.adc_bits, bool) or not isinstance(self.adc_bits, int) or not 8 <= self.adc_bits <= 16:
            raise SignalError(f"adc_bits: expected a whole number 8..16, got {self.adc_bits!r}")
        for name in ("gain", "vref"):
            if not getattr(self, name) > 0:
                raise SignalError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        if self.zero is not None and not 0 <= self.zero <= self.full_scale:
            raise SignalError(f"zero: must lie in 0..{self.full_scale}, got {self.zero!r}")

    @property
    def full_scale(self) -> int:
        """The largest ADC count."""
        return 2 ** self.adc_bits - 1

    @property
    def zero_count(self) -> float:
        return float(2 ** (self.adc_bits - 1) if self.zero is None else self.zero)

    @property
    def mv_per_count(self) -> float:
        return self.vref * 1000.0 / 2 ** self.adc_bits / self.gain

    def check_counts(self, samples: object) -> np.ndarray:
        """``samples`` as int64 ADC counts, or a :class:`SignalError` naming what is wrong with them."""
        x = np.asarray(samples)
        if x.size == 0 and x.ndim == 1:
            return np.empty(0, dtype=np.int64)
        if x.dtype.kind not in "iu":
            raise SignalError(f"samples: expected integer ADC counts, got dtype {x.dtype}")
        if x.ndim != 1:
            raise SignalError(f"samples: expected a 1-D array of ADC counts, got shape {x.shape}")
        x = x.astype(np.int64)
        bad = (x < 0) | (x > self.full_scale)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SignalError(f"samples: {int(bad.sum())} counts outside 0..{self.full_scale} "
                              f"({self.adc_bits}-bit ADC), first at index {i}: {int(x[i])}")
        return x

    def counts_to_mv(self, counts: np.ndarray) -> np.ndarray:
        """ADC counts to millivolts at the electrodes."""
        return (np.asarray(counts, dtype=np.float64) - self.zero_count) * self.mv_per_count

    def mv_to_counts(self, mv: np.ndarray) -> np.ndarray:
        """Millivolts to the counts this front end would produce (rounded, clipped to the ADC range)."""
        counts = np.rint(np.asarray(mv, dtype=np.float64) / self.mv_per_count + self.zero_count)
        return np.clip(counts, 0, self.full_scale).astype(np.int32)
