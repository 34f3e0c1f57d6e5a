"""A gallery of rendered beats: a few real examples of every MIT-BIH beat type, as the model sees them.

``python -m bench.gallery [--data DIR] [--per-type 4] [--out docs/gallery.png]``

Each beat type present in the database gets a block titled with its symbol,
its name and how many beats of it MIT-BIH has, then ``--per-type`` images
drawn by :func:`gateway.signal.raster.render_beats` (128 x 128, unchanged), each
captioned with its record and time.  Examples are spread over as many
records as have the type (most frequent first), so one patient does not
stand for the whole class; within a record they are spread evenly in time.
PIL writes the text and the PNG; the beats themselves are the rasterizer's.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gateway.signal.raster import render_beats
from gateway.signal.spec import IMAGE_SIZE, MODEL_FS
from training.dataset import DEFAULT_DATA, list_records
from training.reference import read_reference

from .raster import load_beats

#: MIT-BIH beat annotation codes (PhysioBank annotation table), in display order.
BEAT_NAMES = {
    "N": "Normal beat",
    "L": "Left bundle branch block beat",
    "R": "Right bundle branch block beat",
    "A": "Atrial premature beat",
    "a": "Aberrated atrial premature beat",
    "J": "Nodal (junctional) premature beat",
    "S": "Supraventricular premature beat",
    "V": "Premature ventricular contraction",
    "F": "Fusion of ventricular and normal beat",
    "!": "Ventricular flutter wave",
    "e": "Atrial escape beat",
    "j": "Nodal (junctional) escape beat",
    "E": "Ventricular escape beat",
    "/": "Paced beat",
    "f": "Fusion of paced and normal beat",
    "Q": "Unclassifiable beat",
}
REPO_ROOT = Path(__file__).resolve().parents[1]
PAD = 6
TITLE_H = 20
CAPTION_H = 14
BLOCKS_PER_ROW = 2


def pick_examples(counts: dict[str, Counter], per_type: int) -> dict[str, list[tuple[str, int, int]]]:
    """For each symbol, up to ``per_type`` picks ``(record, k, of)``: the k-th of ``of`` examples from that record.

    Records are taken round-robin, most examples first, never more picks
    from a record than it has beats of the type, so the picks come from as
    many different patients as the type allows.
    """
    picks: dict[str, list[tuple[str, int, int]]] = {}
    for symbol in BEAT_NAMES:
        left = dict(sorted(counts.get(symbol, Counter()).items(), key=lambda kv: (-kv[1], kv[0])))
        chosen: list[str] = []
        while left and len(chosen) < per_type:
            for rec in list(left):
                if len(chosen) == per_type:
                    break
                chosen.append(rec)
                left[rec] -= 1
                if left[rec] == 0:
                    del left[rec]
        if chosen:
            per_record, seen = Counter(chosen), Counter()
            picks[symbol] = []
            for rec in chosen:
                picks[symbol].append((rec, seen[rec], per_record[rec]))
                seen[rec] += 1
    return picks


def collect(data: Path, per_type: int) -> tuple[dict[str, list[tuple[np.ndarray, str]]], Counter]:
    """Rendered example images with captions per symbol, and the database's count of each symbol."""
    counts: dict[str, Counter] = {s: Counter() for s in BEAT_NAMES}
    for rec in list_records(data):
        for symbol, n in Counter(read_reference(data / rec).beat_symbols.tolist()).items():
            if symbol in counts:
                counts[symbol][rec] = n
    picks = pick_examples(counts, per_type)
    wanted: dict[str, list[tuple[str, int, int]]] = {}
    for symbol, chosen in picks.items():
        for rec, k, of in chosen:
            wanted.setdefault(rec, []).append((symbol, k, of))
    examples: dict[str, list[tuple[np.ndarray, str]]] = {s: [] for s in picks}
    for rec in sorted(wanted):
        windows, symbols, samples = load_beats(data, rec)
        for symbol, k, of in wanted[rec]:
            idx = np.flatnonzero(symbols == symbol)
            if idx.size == 0:  # its only beats of this type were too close to an end for a window
                continue
            i = idx[int((k + 0.5) * len(idx) / of)]
            seconds = int(samples[i] / MODEL_FS)
            examples[symbol].append((render_beats(windows[i]), f"{rec} {seconds // 60}:{seconds % 60:02d}"))
    totals = Counter({s: sum(c.values()) for s, c in counts.items()})
    return examples, totals


def compose(examples: dict[str, list[tuple[np.ndarray, str]]], totals: Counter, per_type: int) -> Image.Image:
    """Lay the blocks out, ``BLOCKS_PER_ROW`` per row, one block per beat type."""
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=10)
    block_w = per_type * (IMAGE_SIZE + PAD) + PAD
    block_h = TITLE_H + IMAGE_SIZE + CAPTION_H + PAD
    rows = -(-len(examples) // BLOCKS_PER_ROW)
    sheet = Image.new("L", (BLOCKS_PER_ROW * block_w, rows * block_h + PAD), 235)
    draw = ImageDraw.Draw(sheet)
    for b, (symbol, images) in enumerate(examples.items()):
        x0, y0 = (b % BLOCKS_PER_ROW) * block_w, (b // BLOCKS_PER_ROW) * block_h + PAD
        draw.text((x0 + PAD, y0), f"{symbol}  {BEAT_NAMES[symbol]}  ({totals[symbol]:,} in MIT-BIH)",
                  fill=0, font=font)
        for j, (image, caption) in enumerate(images):
            x = x0 + PAD + j * (IMAGE_SIZE + PAD)
            sheet.paste(Image.fromarray(image), (x, y0 + TITLE_H))
            draw.rectangle((x - 1, y0 + TITLE_H - 1, x + IMAGE_SIZE, y0 + TITLE_H + IMAGE_SIZE), outline=160)
            draw.text((x, y0 + TITLE_H + IMAGE_SIZE + 1), caption, fill=80, font=small)
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MIT-BIH directory (default: %(default)s)")
    parser.add_argument("--per-type", type=int, default=4, help="examples per beat type")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "gallery.png")
    args = parser.parse_args(argv)
    if args.per_type < 1:
        parser.error("--per-type must be at least 1")
    examples, totals = collect(args.data, args.per_type)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    compose(examples, totals, args.per_type).save(args.out, optimize=True)
    print(f"{args.out}: {len(examples)} beat types, "
          + ", ".join(f"{s} {len(v)}" for s, v in examples.items()))


if __name__ == "__main__":
    main()
