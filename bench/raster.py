"""Per-beat cost of the numpy rasterizer vs the seed's matplotlib recipe, side by side in one run.

``python -m bench.raster [--data DIR] [--record 208] [--n 1000] [--rounds 5]``

The same ``--n`` real beats (the record's first reference beats, MLII
filtered by :func:`gateway.signal.chain.condition`, cut with
:func:`gateway.signal.chain.beat_windows`) are drawn three ways:

* ``numpy batched`` - :func:`gateway.signal.raster.render_beats` on all of them at once;
* ``numpy single``  - the same function called once per beat (a 1-D window);
* ``matplotlib``    - the seed's recipe: plot on a 1.66 x 1.67 in, 100 dpi
  Agg figure, axis off, save PNG, re-open with PIL, grayscale, resize to
  128 x 128.

The work is split into ``--rounds`` interleaved rounds (each round draws a
slice of the beats with matplotlib and numpy single, and all of them
batched) so that all three see the same machine load; per-beat times are
the median over rounds and every ratio is of two such medians.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gateway.signal.chain import beat_windows, condition
from gateway.signal.leads import read_record
from gateway.signal.raster import render_beats
from gateway.signal.spec import IMAGE_SIZE
from training.dataset import DEFAULT_DATA
from training.reference import read_reference


def load_beats(data: Path, record: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beat windows of one record around its reference beats, their MIT symbols and sample numbers."""
    path = Path(data) / record
    rec = read_record(path)
    y = condition(rec.signal, rec.fs)
    ref = read_reference(path)
    windows, kept = beat_windows(y, ref.beat_samples)
    return windows, ref.beat_symbols[kept], ref.beat_samples[kept]


def matplotlib_recipe() -> Callable[[np.ndarray], np.ndarray]:
    """The seed's renderer: one beat window -> 128 x 128 uint8 through a PNG round trip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    def render(window: np.ndarray) -> np.ndarray:
        fig, ax = plt.subplots(figsize=(1.66, 1.67), dpi=100)
        ax.plot(window, color="black")
        ax.axis("off")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        buf.seek(0)
        image = np.asarray(Image.open(buf).convert("L").resize((IMAGE_SIZE, IMAGE_SIZE)))
        plt.close(fig)
        return image

    return render


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(windows: np.ndarray, rounds: int) -> dict[str, float]:
    """Median per-beat time (ms) of each renderer over ``rounds`` interleaved rounds."""
    mpl = matplotlib_recipe()
    mpl(windows[0]), render_beats(windows[:2])  # warm-up: imports, fonts, index tables
    slices = np.array_split(np.arange(len(windows)), rounds)
    times: dict[str, list[float]] = {"numpy batched": [], "numpy single": [], "matplotlib": []}
    for part in slices:
        chunk = windows[part]
        times["matplotlib"].append(seconds(lambda: [mpl(w) for w in chunk]) / len(chunk))
        times["numpy single"].append(seconds(lambda: [render_beats(w) for w in chunk]) / len(chunk))
        passes = 5  # one batched pass takes milliseconds: average a few against timer noise
        times["numpy batched"].append(seconds(lambda: [render_beats(windows) for _ in range(passes)])
                                      / (passes * len(windows)))
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MIT-BIH directory (default: %(default)s)")
    parser.add_argument("--record", default="208", help="record to take the beats from")
    parser.add_argument("--n", type=int, default=1000, help="number of beats")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    args = parser.parse_args(argv)
    if args.n < args.rounds:
        parser.error("--n must be at least --rounds")

    windows, _, _ = load_beats(args.data, args.record)
    if len(windows) < args.n:
        parser.error(f"record {args.record} has only {len(windows)} full beat windows")
    windows = windows[:args.n]
    print(f"{args.n} beats of record {args.record}, {args.rounds} rounds; numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    ms = run(windows, args.rounds)
    for name, t in ms.items():
        print(f"  {name:14s} {t * 1e3:9.1f} us/beat")
    for name in ("numpy batched", "numpy single"):
        print(f"  matplotlib / {name}: {ms['matplotlib'] / ms[name]:.0f}x")


if __name__ == "__main__":
    main()
