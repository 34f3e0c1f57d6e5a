"""Drawing for the report: ECG strips on a standard grid (PNG) and the heart-rate trend (SVG)."""

from __future__ import annotations

import io

import numpy as np

from ..errors import SignalError
from ..signal.chain import condition
from ..signal.spec import MODEL_FS

PX_PER_MM = 5


def strip_png(r, center: float, seconds: float = 10.0, marks: list | None = None) -> bytes | None:
    """``seconds`` of conditioned ECG around ``center`` on a 25 mm/s, 10 mm/mV grid."""
    from PIL import Image, ImageDraw

    src = next((s for s in r.sources if s.offset <= center <= s.offset + s.signal.size / s.fs), None)
    if src is None:
        return None
    margin = 3.0
    a = int(max(0, (center - seconds / 2 - margin - src.offset) * src.fs))
    b = int(min(src.signal.size, (center + seconds / 2 + margin - src.offset) * src.fs))
    try:
        y = condition(src.signal[a:b], src.fs)
    except SignalError:
        return None
    t0 = src.offset + a / src.fs
    i0 = int(max(0, (center - seconds / 2 - t0) * MODEL_FS))
    y = y[i0:i0 + int(seconds * MODEL_FS)]
    t0 += i0 / MODEL_FS
    mm_w, mm_h = int(seconds * 25), 40
    w, h = mm_w * PX_PER_MM + 1, mm_h * PX_PER_MM + 1
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    for mm in range(mm_w + 1):
        d.line([(mm * PX_PER_MM, 0), (mm * PX_PER_MM, h)], fill=(240, 170, 170) if mm % 5 == 0 else (252, 224, 224))
    for mm in range(mm_h + 1):
        d.line([(0, mm * PX_PER_MM), (w, mm * PX_PER_MM)], fill=(240, 170, 170) if mm % 5 == 0 else (252, 224, 224))
    for mm in range(0, mm_w + 1, 5):  # redraw the major lines over the minor ones
        d.line([(mm * PX_PER_MM, 0), (mm * PX_PER_MM, h)], fill=(235, 150, 150))
    for mm in range(0, mm_h + 1, 5):
        d.line([(0, mm * PX_PER_MM), (w, mm * PX_PER_MM)], fill=(235, 150, 150))
    if y.size > 1:
        base = mm_h * 0.6
        xs = np.arange(y.size) / MODEL_FS * 25 * PX_PER_MM
        ys = (base - np.clip(y, -1.6, 2.4) * 10) * PX_PER_MM
        d.line(list(zip(xs.tolist(), ys.tolist())), fill="black", width=2)
    for bt in marks or []:
        if t0 <= bt.time < t0 + seconds:
            x = (bt.time - t0) * 25 * PX_PER_MM
            d.text((x - 3, 4), bt.label, fill=(160, 0, 0) if bt.label != "N" else (60, 60, 60))
    d.line([(5, 30 * PX_PER_MM), (5, 20 * PX_PER_MM)], fill="blue", width=2)  # 1 mV calibration
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def trend_svg(summary: dict, clock) -> str:
    bins = [b for b in summary["bins"] if b["mean"] is not None]
    w, h, pad = 900, 240, 40
    if not bins:
        return "<p>No heart rate could be measured.</p>"
    top = max(b["max"] for b in bins) * 1.1
    n = len(summary["bins"])

    def x(k):
        return pad + (k + 0.5) * (w - 2 * pad) / n

    def y(v):
        return h - pad - v / top * (h - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
             f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" stroke="#999"/>']
    for v in range(0, int(top) + 1, 20):
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                     f'<text x="{pad - 5}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v}</text>')
    for k, b in enumerate(summary["bins"]):
        if b["mean"] is None:
            continue
        parts.append(f'<line x1="{x(k):.1f}" x2="{x(k):.1f}" y1="{y(b["min"]):.1f}" y2="{y(b["max"]):.1f}" '
                     f'stroke="#48c" stroke-width="3"/>')
    pts = " ".join(f"{x(k):.1f},{y(b['mean']):.1f}" for k, b in enumerate(summary["bins"]) if b["mean"] is not None)
    parts.append(f'<polyline points="{pts}" fill="none" stroke="#c22" stroke-width="2"/>')
    step = max(1, n // 12)
    for k in range(0, n, step):
        parts.append(f'<text x="{x(k):.1f}" y="{h - pad + 14}" font-size="10" text-anchor="middle">'
                     f'{clock(summary["bins"][k]["start"], summary)}</text>')
    parts.append(f'<text x="{pad}" y="{pad - 8}" font-size="11">beats/min: red mean, blue bar min..max '
                 f'(8-beat median) per {"hour" if summary["period"] == 3600 else "5 min"}</text></svg>')
    return "".join(parts)
