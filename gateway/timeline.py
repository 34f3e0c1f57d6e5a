"""The sample clock of one device: device samples to absolute 360 Hz samples to seconds.

Beat times come from counting samples, not from arrival times (Wi-Fi
jitter would move every R peak).  The count is anchored on the arrival time
of the first frame, and again on the first frame after every gap (a
reconnect or lost frames), so samples never splice across a gap and absolute
sample numbers only increase.  Sans I/O: every time is passed in.
"""

from __future__ import annotations

from .signal.spec import MODEL_FS

#: Arrival time needed before the status reports ``rate_error`` (one frame of arrival jitter stays < 0.5 %).
RATE_ERROR_AFTER_S = 30.0


class Timeline:
    """Where device samples lie on the stream's absolute 360 Hz axis."""

    def __init__(self, fs: int, start_time: float):
        self.fs = fs
        self.start_time = float(start_time)
        self._anchor_time = self.start_time  # device sample 0 after the anchor arrived then
        self._anchor_abs = 0
        self.judged = 0  # device samples judged since the anchor
        self._reanchor = False

    def gap(self) -> None:
        """The stream broke off: anchor again on the next frame that arrives."""
        self._reanchor = True

    def arrive(self, n: int, now: float) -> None:
        """A frame of ``n`` samples arrived at ``now``: re-anchor if a gap came before it.

        The frame's first sample is taken to have been sampled ``n / fs``
        before its arrival, but never before the last sample already placed.
        """
        if not self._reanchor:
            return
        self._reanchor = False
        last = self.time_of(self.now())
        self._anchor_time = max(now - n / self.fs, last + 1 / MODEL_FS)
        self._anchor_abs = int(round((self._anchor_time - self.start_time) * MODEL_FS))
        self.judged = 0

    def abs_of(self, dev_index: int) -> int:
        """Absolute 360 Hz sample of device sample ``dev_index`` (since the anchor)."""
        return self._anchor_abs + int(round(dev_index * MODEL_FS / self.fs))

    def now(self) -> int:
        """Absolute sample of the end of what has been judged so far."""
        return self.abs_of(self.judged)

    def time_of(self, abs_sample: int) -> float:
        return self.start_time + abs_sample / MODEL_FS

    def rate_error(self, now: float, waiting: int) -> float | None:
        """Samples received per second of arrival, relative to the declared rate, minus 1 (since the last anchor).

        ``waiting``: samples received but not judged yet.  Beat times come from
        the sample count, so a device clock 2 % fast makes its ECG time run 2 %
        ahead of the wall clock, and its heart rates read 2 % low (each RR
        interval spans 2 % more samples); this figure makes that visible on the
        status topic.  Samples lost without a sequence gap (legacy form) show
        up here too, as a negative error.
        """
        elapsed = float(now) - self._anchor_time
        if self._reanchor or elapsed < RATE_ERROR_AFTER_S:
            return None
        return round((self.judged + waiting) / (elapsed * self.fs) - 1.0, 4)
