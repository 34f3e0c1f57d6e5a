"""The small ECG strip attached to every alert: the last seconds with the beat labels.

A caregiver reading an alert on a phone wants to see the rhythm, not only
a word, so each alert carries a ``width x height`` grayscale PNG of the
filtered signal: the trace is drawn with :func:`gateway.signal.raster.draw_polylines`
(the same line as the beat images), beat labels above their R peaks and a
one-line caption with PIL, which also encodes the PNG.  The vertical scale
is fixed in mV per pixel when the signal fits (``mv_range``), like ECG paper,
so a small and a large complex look different; a larger signal is shown
whole rather than clipped.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import as_signal
from ..signal.raster import INK, PAPER, draw_polylines
from ..signal.spec import MODEL_FS


@dataclass(frozen=True)
class StripConfig:
    """Size and content of the alert strip."""

    seconds: float = 7.0
    width: int = 600
    height: int = 120
    mv_range: tuple[float, float] = (-1.5, 2.0)  # default vertical range, widened to fit the trace
    thickness: int = 1

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds: must be > 0, got {self.seconds!r}")
        if self.width < 100 or self.height < 60:
            raise ValueError(f"width x height: at least 100 x 60 px, got {self.width} x {self.height}")
        if not self.mv_range[0] < self.mv_range[1]:
            raise ValueError(f"mv_range: expected (low, high) with low < high, got {self.mv_range!r}")


LABEL_BAND = 12  # px at the top for the beat labels
CAPTION_BAND = 12  # px at the bottom for the caption and second ticks
GRID = 200  # light gray of the one-second ticks


def render_strip(signal: np.ndarray, beats: Sequence[tuple[int, str]], caption: str = "",
                 config: StripConfig | None = None, fs: int = MODEL_FS) -> bytes:
    """PNG bytes of ``signal`` (filtered mV) with each ``(sample index, label)`` of ``beats`` marked.

    Beat indices are positions in ``signal``; those outside it are ignored.
    """
    c = config or StripConfig()
    y = as_signal(signal, "strip signal", min_len=2)
    trace_h = c.height - LABEL_BAND - CAPTION_BAND
    lo = min(c.mv_range[0], float(y.min()))
    hi = max(c.mv_range[1], float(y.max()))
    trace = draw_polylines(y[None, :], trace_h, c.width, lo, hi, c.thickness)[0]
    canvas = np.full((c.height, c.width), PAPER, dtype=np.uint8)
    for second in range(1, int(y.size / fs) + 1):  # tick marks every second, paper style
        x = int(round(second * fs * (c.width - 1) / (y.size - 1)))
        if x < c.width:
            canvas[LABEL_BAND:c.height - CAPTION_BAND, x] = GRID
    body = canvas[LABEL_BAND:LABEL_BAND + trace_h]
    np.minimum(body, trace, out=body)
    image = Image.fromarray(canvas, mode="L")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for index, label in beats:
        if 0 <= index < y.size:
            x = index * (c.width - 1) / (y.size - 1)
            w = draw.textlength(label, font=font)
            draw.text((min(max(x - w / 2, 0), c.width - w), 0), label, fill=INK, font=font)
    if caption:
        draw.text((2, c.height - CAPTION_BAND), caption, fill=INK, font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()

