"""Per-beat inference time of the int8 model vs its float twin, one thread, one run.

``python -m bench.inference [--run runs/seed8-all] [--n 512] [--batch 32]``

Converts the run's Keras model twice (full-integer int8, as shipped, and
float32) and classifies the same held-out beats with both through the
gateway's own :class:`gateway.model.BeatClassifier` (quantization and
batching included), one beat per call and ``--batch`` beats per call, all
on one thread, interleaved so that both see the same machine load.  Keras
itself (one thread) is timed too.  Prints per-beat times, the ratios, the
file sizes and an estimate for one Raspberry Pi 4 core.

Pi 4 estimate (a transfer factor, not a measurement): XNNPACK's README
documents FP32 MobileNet v2 1.0 (224 px) at 47 ms on a Raspberry Pi 4
(BCM2711, all 4 cores, Raspbian Buster, Dec 2019).  One core cannot be
faster than a quarter of four, so 4 x 47 = 188 ms bounds its single-core
time from above.  The benchmark times the same network (random weights,
float32 TFLite, one thread) on this machine in the same run; the ratio
188 ms / that time is the Pi-4-core / this-core factor, applied to the beat
model's times.  The int8 model's estimate uses that FP32-derived factor;
its upper bound is the float model's estimate, since int8 kernels on the
Pi's NEON are not slower than float ones.  Confirm on a Pi with
``benchmark_model --num_threads=1``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from converter.convert import load_images, load_keras, load_run, to_tflite  # noqa: E402
from gateway.interpreters import make_interpreter  # noqa: E402
from gateway.model import BeatClassifier, sha256_hex  # noqa: E402

#: XNNPACK README: FP32 MobileNet v2 1.0X on Raspberry Pi 4 (BCM2711), 4 threads, in ms.
PI4_MOBILENET_V2_4CORE_MS = 47.0
PI4_CORES = 4


def best_per_beat_ms(fn: Callable[[], None], n_beats: int, repeats: int) -> float:
    """Best of ``repeats`` runs of ``fn`` (which processes ``n_beats`` beats), in ms per beat."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / n_beats


def count_macs(model: object) -> int:
    """Multiply-accumulates of one forward pass, from the Keras layers (conv, depthwise, dense)."""
    import keras

    total = 0
    for layer in model.layers:
        out = layer.output.shape
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            total += int(np.prod(out[1:])) * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.SeparableConv2D):
            cin = int(layer.input.shape[-1])
            total += int(np.prod(out[1:3])) * cin * (int(np.prod(layer.kernel_size)) * layer.depth_multiplier
                                                      + layer.depth_multiplier * int(out[-1]))
        elif isinstance(layer, keras.layers.Conv2D):
            cin = int(layer.input.shape[-1]) // layer.groups
            total += int(np.prod(out[1:])) * int(np.prod(layer.kernel_size)) * cin
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(out[1:])) * int(layer.input.shape[-1])
    return total


def classifier(tflite: bytes, labels: list[str], scheme: str) -> BeatClassifier:
    """A gateway classifier for model bytes that have no metadata file (the float twin)."""
    return BeatClassifier(make_interpreter(tflite, num_threads=1),
                          {"labels": labels, "scheme": scheme, "sha256": sha256_hex(tflite)})


def reference_ms(repeats: int) -> float:
    """This machine's single-thread time of FP32 MobileNet v2 1.0 (224 px) in TFLite, best of ``repeats`` x 10."""
    import keras

    net = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    interp = make_interpreter(to_tflite(net, None), num_threads=1)
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    interp.run(x)  # warm-up
    return best_per_beat_ms(lambda: [interp.run(x) for _ in range(10)], 10, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/seed8-all"), help="training run (default runs/seed8-all)")
    parser.add_argument("--n", type=int, default=512, help="held-out beats to classify (default 512)")
    parser.add_argument("--batch", type=int, default=32, help="beats per call in the batched runs (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, best kept (default 3)")
    parser.add_argument("--no-reference", action="store_true", help="skip the MobileNet v2 reference (no Pi estimate)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    run = load_run(args.run)
    images = load_images(run.path / "heldout.npz")[0][:args.n]
    n = len(images)
    labels, scheme = list(run.meta["labels"]), run.meta["scheme"]
    model = load_keras(run)
    print(f"run {run.path} ({scheme}, {len(labels)} classes), {n} held-out beats, 1 thread, "
          f"batch {args.batch}, best of {args.repeats}", flush=True)
    tflite = {"int8": to_tflite(model, run.images("representative")), "float32": to_tflite(model, None)}
    models = {kind: classifier(data, labels, scheme) for kind, data in tflite.items()}

    def batched(c: BeatClassifier) -> Callable[[], None]:
        c.batch_size = args.batch
        return lambda: c.classify(images)

    def singly(c: BeatClassifier) -> Callable[[], None]:
        return lambda: [c.classify(images[i:i + 1]) for i in range(n)]

    x = images[..., None].astype(np.float32)
    keras_fns = {1: lambda: [model(x[i:i + 1], training=False) for i in range(n)],
                 args.batch: lambda: [model(x[i:i + args.batch], training=False) for i in range(0, n, args.batch)]}
    times: dict[tuple[str, int], float] = {}
    for kind, c in models.items():  # warm-up: allocations, XNNPACK packing, first resize
        batched(c)(); singly(c)()
    for fn in keras_fns.values():
        fn()
    for _ in range(args.repeats):  # interleaved, each best-of kept
        for kind, c in models.items():
            for batch, make in ((1, singly), (args.batch, batched)):
                t = best_per_beat_ms(make(c), n, 1)
                times[kind, batch] = min(times.get((kind, batch), t), t)
        for batch, fn in keras_fns.items():
            t = best_per_beat_ms(fn, n, 1)
            times["keras", batch] = min(times.get(("keras", batch), t), t)

    agree = np.mean(models["int8"].classify(images)[0] == models["float32"].classify(images)[0])
    macs = count_macs(model)
    print(f"\nbackend {models['int8'].backend}; {macs / 1e6:.2f} M multiply-accumulates per beat; "
          f"int8/float top-1 agreement on these beats {100 * agree:.2f} %\n")
    print(f"{'model':<16}{'size KB':>9}{'ms/beat b=1':>14}{f'ms/beat b={args.batch}':>15}")
    sizes = {"int8": len(tflite["int8"]), "float32": len(tflite["float32"]), "keras": run.model_path.stat().st_size}
    names = {"int8": "int8 TFLite", "float32": "float32 TFLite", "keras": "Keras (TF)"}
    for kind in ("int8", "float32", "keras"):
        print(f"{names[kind]:<16}{sizes[kind] / 1024:>9.1f}{times[kind, 1]:>14.3f}{times[kind, args.batch]:>15.3f}")
    print(f"\nratios (higher = int8 faster): float32/int8 b=1 {times['float32', 1] / times['int8', 1]:.2f}x, "
          f"b={args.batch} {times['float32', args.batch] / times['int8', args.batch]:.2f}x; "
          f"Keras/int8 b=1 {times['keras', 1] / times['int8', 1]:.1f}x, "
          f"b={args.batch} {times['keras', args.batch] / times['int8', args.batch]:.1f}x")
    print(f"batching gain (b=1 / b={args.batch}): int8 {times['int8', 1] / times['int8', args.batch]:.2f}x, "
          f"float32 {times['float32', 1] / times['float32', args.batch]:.2f}x")
    print(f"file size float32/int8: {sizes['float32'] / sizes['int8']:.2f}x")
    if args.no_reference:
        return 0
    ref = reference_ms(args.repeats)
    factor = PI4_CORES * PI4_MOBILENET_V2_4CORE_MS / ref
    print(f"\nPi 4 estimate: FP32 MobileNet v2 here {ref:.1f} ms/inference (1 thread) vs <= "
          f"{PI4_CORES * PI4_MOBILENET_V2_4CORE_MS:.0f} ms on one Pi 4 core (4 x {PI4_MOBILENET_V2_4CORE_MS:.0f} ms, "
          f"XNNPACK README) -> factor <= {factor:.1f}")
    for batch in (1, args.batch):
        print(f"  b={batch}: int8 ~{times['int8', batch] * factor:.2f} ms/beat "
              f"(upper bound from float32: {times['float32', batch] * factor:.2f} ms/beat) on one Pi 4 core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
