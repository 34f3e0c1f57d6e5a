"""The live trace: each patient's conditioned signal, downsampled, in small frames for consoles.

With ``mqtt.trace = true`` the gateway publishes ``<prefix>/<patient>/trace``
at QoS 0, not retained (docs/mqtt.md): a screen that misses a frame draws
a gap, and nothing is worth re-sending a quarter second late.  A
:class:`TraceTap` hangs on the processor's sample hook (the same one the
recorder uses), so the processor stays sans-I/O: it averages each run of
``360 / trace_hz`` conditioned samples (a boxcar before decimation; the
signal is already low-passed at 40 Hz) and hands a JSON frame to ``send``
every :data:`FRAME_S` seconds of signal.  A gap in the samples (lost frames,
a reconnection) sends what is pending and starts afresh, so a frame never
spans a gap.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from ..signal.spec import MODEL_FS

#: Seconds of signal per frame (about four frames a second).
FRAME_S = 0.25


class TraceTap:
    """``tap(abs_start, y)``: conditioned 360 Hz samples (mV) in, JSON trace frames out through ``send``."""

    def __init__(self, device_id: str, start_time: float, hz: int, send: Callable[[bytes], None]):
        self.device_id = device_id
        self.start_time = float(start_time)
        self.factor = max(1, int(round(MODEL_FS / hz)))
        self.hz = MODEL_FS / self.factor
        self.frame_len = max(1, int(round(self.hz * FRAME_S)))
        self.send = send
        self._next_abs: int | None = None  # the 360 Hz sample expected next
        self._held = np.empty(0)  # 360 Hz samples not yet averaged
        self._held_abs = 0  # abs sample of _held[0]
        self._frame: list[int] = []  # averaged values (µV) not yet sent
        self._frame_abs = 0  # abs 360 Hz sample where the frame's first value's block starts

    def __call__(self, abs_start: int, y: np.ndarray) -> None:
        if self._next_abs is not None and abs_start != self._next_abs:
            self.flush()
            self._held = np.empty(0)
        if not self._held.size:
            self._held_abs = abs_start
        self._held = np.concatenate([self._held, np.asarray(y, dtype=float)])
        self._next_abs = abs_start + len(y)
        whole = self._held.size // self.factor * self.factor
        if not whole:
            return
        values = np.rint(self._held[:whole].reshape(-1, self.factor).mean(axis=1) * 1000).astype(int).tolist()
        first_abs = self._held_abs
        self._held, self._held_abs = self._held[whole:], self._held_abs + whole
        for i, v in enumerate(values):
            if not self._frame:
                self._frame_abs = first_abs + i * self.factor
            self._frame.append(v)
            if len(self._frame) >= self.frame_len:
                self.flush()

    def flush(self) -> None:
        """Send the pending values as a (short) frame."""
        if not self._frame:
            return
        centre = (self.factor - 1) / 2  # each value is the mean of a block: it stands at the block's centre
        t = self.start_time + (self._frame_abs + centre) / MODEL_FS
        self.send(json.dumps({"device_id": self.device_id, "t": round(t, 4), "hz": self.hz,
                              "uv": self._frame}, separators=(",", ":")).encode())
        self._frame = []
