"""Beat windows to grayscale images: a vectorised numpy polyline rasterizer.

The model's input is a picture of the beat, so the picture must be the same
in training and in the field, byte for byte, and cheap enough to draw every
beat on a Raspberry Pi.  This module draws it with numpy alone, for a whole
batch at once, replacing the seed's matplotlib recipe (plot, save PNG,
re-open, resize) that cost milliseconds per beat.

Geometry (:func:`draw_polylines`):

* Sample ``i`` of ``L`` sits at column position ``x = i * (width - 1) / (L - 1)``:
  the first sample at the centre of the left column, the last at the
  centre of the right one.
* Values map linearly to rows, ``hi`` to the centre of the top row and
  ``lo`` to the centre of the bottom row; values outside ``[lo, hi]`` are
  drawn on the border rows.
* Consecutive samples are joined by straight segments.  Column ``c``
  covers ``x`` in ``[c - 0.5, c + 0.5]``; it is dark over the whole range of
  rows the polyline passes through inside that column (its samples plus
  the segment values interpolated at the column's edges), so steep QRS
  edges have no gaps and neighbouring columns always share a row.
* The line is stroked with a square ``thickness x thickness`` brush, so a
  flat line is exactly ``thickness`` rows tall and a steep edge at least
  ``thickness`` columns wide.

Amplitude scaling (:func:`render_beats`) is per beat by default: the
window's min..max plus ``AUTOSCALE_MARGIN`` of its range above and below,
as the seed's matplotlib plots did.  A constant window has no range and is
drawn as a horizontal line through the middle of the image (so is one whose
range is too small for float64 to scale, below about 1e-306).  A fixed range
in the signal's unit (mV) can be asked for with ``v_range`` instead.

Change anything here that alters the pixels and ``gateway.signal.spec.CHAIN_VERSION``
must be bumped: models are trained on these exact images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import SignalError
from .spec import IMAGE_SIZE, WINDOW

#: Traces drawn per step: keeps every temporary small enough to stay in cache.
_CHUNK = 128

#: Stroke width in pixels (matplotlib's default 1.5 pt line came out about
#: 1.6 px wide in the seed's 128 px images).
LINE_THICKNESS = 2
#: Per-beat autoscale headroom above the maximum and below the minimum, as a
#: fraction of the window's range (matplotlib's default axes margin).
AUTOSCALE_MARGIN = 0.05
#: Pixel values: a dark line on a light background.  INK must stay 0: the
#: painter multiplies the off-stroke mask by PAPER.
INK = 0
PAPER = 255
#: What a model's metadata records about the images it was trained on.
RASTER_PARAMS = {
    "renderer": "gateway.signal.raster",
    "line_thickness": LINE_THICKNESS,
    "autoscale_margin": AUTOSCALE_MARGIN,
    "scaling": "per-beat min..max + margin; constant window -> middle row",
    "ink": INK,
    "paper": PAPER,
}


def render_beats(windows: np.ndarray, size: int = IMAGE_SIZE, thickness: int = LINE_THICKNESS,
                 *, v_range: tuple[float, float] | None = None) -> np.ndarray:
    """Draw beat windows as ``size x size`` images, a dark trace on a light background.

    ``windows`` is ``(n, WINDOW)`` or ``(WINDOW,)`` filtered samples around R
    peaks (:func:`gateway.signal.chain.beat_windows`); the result is ``(n, size,
    size)`` uint8, or ``(size, size)`` for a single 1-D window.  With
    ``v_range=None`` each beat is scaled to its own range (see the module
    docstring); ``v_range=(lo, hi)`` maps that fixed range to the image
    height for every beat instead.
    """
    arr = np.asarray(windows)
    if arr.ndim not in (1, 2):
        raise SignalError(f"beat windows: expected shape (n, {WINDOW}) or ({WINDOW},), got {arr.shape}")
    single = arr.ndim == 1
    values = _as_traces(arr[None, :] if single else arr, "beat windows")
    if values.shape[1] != WINDOW:
        raise SignalError(f"beat windows: expected {WINDOW} samples per window, got {values.shape[1]}")
    size = _check_int(size, "size", 2)
    thickness = _check_int(thickness, "thickness", 1)
    lo, hi = _autoscale(values, size) if v_range is None else _fixed_range(v_range, len(values))
    images = _draw(values, size, size, lo, hi, thickness)
    return images[0] if single else images


def draw_polylines(values: np.ndarray, height: int, width: int, lo: np.ndarray | float,
                   hi: np.ndarray | float, thickness: int) -> np.ndarray:
    """Draw each row of ``values`` (``(n, L)``) as a polyline in its own ``height x width`` image.

    ``lo`` and ``hi`` (scalars or one per trace) are the values drawn at the
    bottom and top row centres.  Returns ``(n, height, width)`` uint8, an
    ``INK`` line on ``PAPER``; the geometry is described in the module
    docstring.  This is the primitive behind beat images and alert strips.
    """
    values = _as_traces(values, "traces")
    if values.shape[1] < 2:
        raise SignalError(f"traces: at least 2 samples per trace are needed to draw a line, got {values.shape[1]}")
    n = len(values)
    height = _check_int(height, "height", 2)
    width = _check_int(width, "width", 2)
    thickness = _check_int(thickness, "thickness", 1)
    lo = _per_trace(lo, n, "lo")
    hi = _per_trace(hi, n, "hi")
    if not np.all(hi > lo):
        raise SignalError(f"lo/hi: every trace needs lo < hi; trace {int(np.argmin(hi > lo))} does not")
    return _draw(values, height, width, lo, hi, thickness)


def _draw(values: np.ndarray, height: int, width: int, lo: np.ndarray, hi: np.ndarray,
          thickness: int) -> np.ndarray:
    """:func:`draw_polylines` on validated input (``lo < hi``), a chunk of traces at a time."""
    n = len(values)
    # Row coordinate (0 = top) = values * gain + bias, with the stroke's
    # half-thickness taken off so that _paint can simply round down.
    with np.errstate(over="ignore", divide="ignore"):
        gain = (height - 1) / (lo - hi)
    if not np.all(np.isfinite(gain) & (gain != 0)):
        raise SignalError("lo/hi: the value range is too small or too large to scale to pixels")
    bias = hi * -gain - ((thickness - 1) / 2 - 0.5)
    images = np.empty((n, height, width), np.uint8)
    for start in range(0, n, _CHUNK):
        part = slice(start, start + _CHUNK)
        rows = values[part] * gain[part, None]
        rows += bias[part, None]
        top, bottom = _dilate_columns(*_column_extents(rows, width), thickness)
        _paint(top, bottom, thickness, images[part])
    return images


def _as_traces(values: object, name: str) -> np.ndarray:
    """``values`` as a finite 2-D float64 array, or a SignalError saying what is wrong."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise SignalError(f"{name}: expected integer or float samples, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise SignalError(f"{name}: expected a 2-D array (n, samples), got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        trace, sample = (int(i[0]) for i in np.nonzero(bad))
        raise SignalError(f"{name}: {int(bad.sum())} non-finite samples (NaN or inf), "
                          f"first in trace {trace} at sample {sample}")
    return arr


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SignalError(f"{name}: expected a whole number of pixels, got {value!r}")
    if value < minimum:
        raise SignalError(f"{name}: must be at least {minimum}, got {value}")
    return int(value)


def _per_trace(value: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise SignalError(f"{name}: expected a number or one number per trace, got dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size != n):
        raise SignalError(f"{name}: expected a scalar or shape ({n},), got shape {arr.shape}")
    out = np.empty(n)
    out[:] = arr
    return out


def _autoscale(values: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-trace ``(lo, hi)``: min..max with margin; a flat trace gets a range centred on it.

    "Flat" includes ranges so small (subnormal floats) that pixels per unit
    would overflow: nothing visible can be drawn from them either.
    """
    vmin = values.min(axis=1)
    vmax = values.max(axis=1)
    with np.errstate(over="ignore", divide="ignore"):
        span = vmax - vmin
        drawable = np.isfinite((height - 1) / ((1 + 2 * AUTOSCALE_MARGIN) * span))
    pad = np.where(drawable, AUTOSCALE_MARGIN * span, 1.0)
    return vmin - pad, vmax + pad


def _fixed_range(v_range: object, n: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        lo, hi = (float(v) for v in v_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise SignalError(f"v_range: expected (lo, hi) numbers, got {v_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise SignalError(f"v_range: expected finite lo < hi, got {v_range!r}")
    return np.full(n, lo), np.full(n, hi)


@lru_cache(maxsize=16)
def _column_layout(length: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Index tables shared by every trace of that length drawn that wide.

    Returns ``(left, right, frac, members)``.  Column edge ``j`` (at
    ``x = j - 0.5``, clipped to the image) lies between samples ``left[j]``
    and ``right[j] = left[j] + 1``, at fraction ``frac[j]``.  In the points
    array ``[edge values (width + 1), samples (length)]``, ``members[:, c]``
    lists the points that bound the polyline inside column ``c``: its two
    edges and every sample in between, padded by repeating its left edge so
    that every column has the same number of points to take a min/max over.
    """
    per_column = (length - 1) / (width - 1)
    edges = np.clip(np.arange(width + 1) - 0.5, 0, width - 1) * per_column
    left = np.minimum(np.floor(edges).astype(np.intp), length - 2)
    frac = edges - left
    sample_col = np.floor(np.arange(length) / per_column + 0.5).astype(np.intp)
    counts = np.bincount(sample_col, minlength=width)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(counts.max())[:, None]
    columns = np.arange(width)
    samples = np.where(slot < counts, width + 1 + first + slot, columns)
    members = np.concatenate([columns[None, :], columns[None, :] + 1, samples]).astype(np.intp)
    tables = (left, left + 1, frac, members)
    for table in tables:
        table.setflags(write=False)
    return tables


def _column_extents(rows: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest row coordinate the polyline reaches in each column, ``(n, width)``."""
    left, right, frac, members = _column_layout(rows.shape[1], width)
    edge = rows.take(left, axis=1)
    edge += (rows.take(right, axis=1) - edge) * frac
    bounds = np.concatenate([edge, rows], axis=1).take(members, axis=1)
    return bounds.min(axis=1), bounds.max(axis=1)


def _dilate_columns(top: np.ndarray, bottom: np.ndarray, thickness: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen the stroke sideways: a column covers what its brush-wide neighbourhood covers.

    A point in column ``c`` paints columns ``c - a .. c + b`` with
    ``a + b = thickness - 1`` (``a`` the smaller half for even widths), so
    column ``c`` takes the extremes of columns ``c - b .. c + a``.
    """
    a = (thickness - 1) // 2
    b = thickness - 1 - a
    wide_top, wide_bottom = top.copy(), bottom.copy()
    for shift in range(1, b + 1):  # from neighbours on the left
        np.minimum(wide_top[:, shift:], top[:, :-shift], out=wide_top[:, shift:])
        np.maximum(wide_bottom[:, shift:], bottom[:, :-shift], out=wide_bottom[:, shift:])
    for shift in range(1, a + 1):  # from neighbours on the right
        np.minimum(wide_top[:, :-shift], top[:, shift:], out=wide_top[:, :-shift])
        np.maximum(wide_bottom[:, :-shift], bottom[:, shift:], out=wide_bottom[:, :-shift])
    return wide_top, wide_bottom


def _paint(top: np.ndarray, bottom: np.ndarray, thickness: int, images: np.ndarray) -> None:
    """Fill ``images`` with ``INK`` over each column's stroke and ``PAPER`` elsewhere.

    ``top`` and ``bottom`` are the column extents already shifted up by
    ``(thickness - 1) / 2 - 0.5`` (see :func:`_draw`), so a point at row
    coordinate ``y`` paints the ``thickness`` rows from
    ``floor(y - (thickness - 1) / 2 + 0.5)`` down: a point midway between two
    rows with an even thickness is centred exactly.  Both arrays are reused.
    """
    height = images.shape[1]
    np.floor(top, out=top)
    np.floor(bottom, out=bottom)
    bottom += thickness - 1
    for bound in (top, bottom):  # (ufuncs: np.clip costs more than the pixels of one beat)
        np.maximum(bound, 0, out=bound)
        np.minimum(bound, height - 1, out=bound)
    # One unsigned comparison per pixel: row - first wraps around to a large
    # number above the stroke, so "row - first <= last - first" holds exactly
    # on the stroke.  The smallest unsigned type that holds the row numbers
    # (uint8 up to 256 rows) keeps the passes over the pixels cheap.
    dtype = np.min_scalar_type(height - 1)
    first = top.astype(dtype)
    extent = (bottom.astype(dtype) - first)[:, None, :]
    offset = np.subtract(np.arange(height, dtype=dtype)[None, :, None], first[:, None, :],
                         out=np.empty(images.shape, dtype))
    np.greater(offset, extent, out=images.view(np.bool_))
    images *= PAPER
