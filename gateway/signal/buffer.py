"""The recent filtered signal of one segment, addressed by absolute sample number.

The stream processor cuts beat windows, QRS complexes and alert strips from
it; keeping the absolute indexing here means the processor never does
offset arithmetic on a buffer that is being trimmed behind it.
"""

from __future__ import annotations

import numpy as np

from .context import qrs_at


class SignalBuffer:
    """Filtered samples ``[start, end)`` of the stream; :meth:`keep` trims the oldest."""

    def __init__(self) -> None:
        self._y = np.empty(0)
        self.end = 0  # absolute sample after the newest one

    def __len__(self) -> int:
        return self._y.size

    @property
    def start(self) -> int:
        """Absolute sample of the oldest sample kept."""
        return self.end - self._y.size

    def restart(self, at: int) -> None:
        """Empty, with the next sample appended being absolute sample ``at`` (a new segment)."""
        self._y = np.empty(0)
        self.end = at

    def append(self, y: np.ndarray) -> None:
        self._y = np.concatenate([self._y, y])
        self.end += y.size

    def keep(self, n: int) -> None:
        """Drop all but the newest ``n`` samples."""
        if self._y.size > n:
            self._y = self._y[-n:]

    def windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Rows of ``length`` samples from each absolute ``starts`` (all inside the buffer)."""
        offsets = np.asarray(starts) - self.start
        return self._y[offsets[:, None] + np.arange(length)[None, :]]

    def qrs(self, peak: int) -> np.ndarray:
        """The QRS around absolute sample ``peak``, as :func:`~gateway.signal.context.qrs_at` cuts it."""
        return qrs_at(self._y, peak - self.start)

    def trace(self, end: int, span: int) -> np.ndarray:
        """The ``span`` samples ending at absolute ``end`` (at most :attr:`end`), zero where none are kept."""
        lo = min(max(end - span, self.start), end)  # nothing kept: all zeros
        out = np.zeros(span)
        out[span - (end - lo):] = self._y[lo - self.start:end - self.start]
        return out
