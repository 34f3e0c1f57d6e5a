"""Per-beat inference time of the int8 model vs its float twin, one thread, one run.

``python -m bench.inference [--run runs/seed8-all] [--n 512] [--batch 32]``

Converts the run's Keras model twice (full-integer int8, as shipped, and
float32) and classifies the same held-out beats (images and context
features) with both through the gateway's own
:class:`gateway.classify.model.BeatClassifier` (quantization and batching
included), one beat per call and ``--batch`` beats per call, all on one
thread, interleaved so that both see the same machine load.  Keras
itself (one thread) is timed too.  Prints per-beat times, the ratios, the
file sizes and an estimate for one Raspberry Pi 4 core.

Pi 4 estimate (a transfer factor, not a measurement on a Pi): XNNPACK's
README documents MobileNet v2 1.0 (224 px, random weights) on a Raspberry
Pi 4 (BCM2711, ARM64, all 4 cores, Feb 2022) at 46 ms in FP32 and 17 ms in
INT8 (per-channel).  One core cannot be faster than a quarter of four, so
4 x those bound a single core's time from above.  The benchmark converts
the same network (random weights) to float32 and to full-integer int8
TFLite and times both here on one thread, interleaved with the beat
models; for each precision, factor = Pi-4-core bound / time here, and the
beat model's estimate is its time here x the factor of its precision (so
the int8 estimate does not inherit this x86 CPU's weak int8 throughput).
Confirm on a Pi with ``benchmark_model --num_threads=1``.
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

from converter.convert import load_keras, load_run, to_tflite  # noqa: E402
from gateway.classify.interpreters import make_interpreter  # noqa: E402
from gateway.classify.model import BeatClassifier, sha256_hex  # noqa: E402
from training.batches import to_model_input  # noqa: E402
from training.model import macs as macs_of  # noqa: E402

#: XNNPACK README (Feb 2022): MobileNet v2 1.0X on a Raspberry Pi 4 (BCM2711, ARM64), 4 threads, ms.
PI4_MOBILENET_V2_4CORE_MS = {"int8": 17.0, "float32": 46.0}
PI4_CORES = 4
PRECISIONS = ("int8", "float32")


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def classifier(tflite: bytes, labels: list[str], scheme: str) -> BeatClassifier:
    """A gateway classifier for model bytes that have no metadata file (the float twin)."""
    return BeatClassifier(make_interpreter(tflite, num_threads=1),
                          {"labels": labels, "scheme": scheme, "sha256": sha256_hex(tflite)})


def reference_runs() -> dict[str, Callable[[], object]]:
    """Per precision, one single-thread inference of MobileNet v2 1.0 (224 px, random weights) in TFLite."""
    import keras

    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    rng = np.random.default_rng(0)
    calibration = rng.uniform(-1, 1, (8, 224, 224, 3)).astype(np.float32)
    runs = {}
    for precision in PRECISIONS:
        interp = make_interpreter(to_tflite(net, [calibration] if precision == "int8" else None),
                                  num_threads=1)
        x = rng.integers(-128, 128, (1, 224, 224, 3)).astype(interp.inputs[0].dtype)
        interp.run(x)  # warm-up
        runs[precision] = lambda interp=interp, x=x: interp.run(x)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/seed8-all"), help="training run (default runs/seed8-all)")
    parser.add_argument("--n", type=int, default=512, help="held-out beats to classify (default 512)")
    parser.add_argument("--batch", type=int, default=32, help="beats per call in the batched runs (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions, best kept (default 5)")
    parser.add_argument("--no-reference", action="store_true", help="skip the MobileNet v2 reference (no Pi estimate)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    run = load_run(args.run)
    heldout = run.beats("heldout")
    images, context = heldout.images[:args.n], heldout.context[:args.n]
    n, batch = len(images), args.batch
    labels, scheme = list(run.meta["labels"]), run.meta["scheme"]
    model = load_keras(run)
    print(f"run {run.path} ({scheme}, {len(labels)} classes), {n} held-out beats, 1 thread, "
          f"batch {batch}, best of {args.repeats}", flush=True)
    tflite = {"int8": to_tflite(model, run.beats("representative").model_inputs()), "float32": to_tflite(model, None)}
    models = {p: classifier(tflite[p], labels, scheme) for p in PRECISIONS}
    x, x_context = to_model_input(images, context)

    def batched(c: BeatClassifier) -> Callable[[], object]:
        def fn() -> object:
            c.batch_size = batch
            return c.classify(images, context)
        return fn

    # (name, beats per call) -> a function classifying all n beats that way
    jobs: dict[tuple[str, int], Callable[[], object]] = {}
    for p, c in models.items():
        jobs[p, 1] = lambda c=c: [c.classify(images[i:i + 1], context[i:i + 1]) for i in range(n)]
        jobs[p, batch] = batched(c)
    jobs["keras", 1] = lambda: [model([x[i:i + 1], x_context[i:i + 1]], training=False) for i in range(n)]
    jobs["keras", batch] = lambda: [model([x[i:i + batch], x_context[i:i + batch]], training=False)
                                    for i in range(0, n, batch)]
    per_call = {key: n for key in jobs}
    if not args.no_reference:
        for p, fn in reference_runs().items():
            jobs["reference " + p, 1] = lambda fn=fn: [fn() for _ in range(10)]
            per_call["reference " + p, 1] = 10
    for fn in jobs.values():  # warm-up: allocations, XNNPACK weight packing, first resize
        fn()
    ms: dict[tuple[str, int], float] = {}
    for _ in range(args.repeats):  # interleaved: every job sees the same machine load; best kept
        for key, fn in jobs.items():
            t = 1e3 * seconds(fn) / per_call[key]
            ms[key] = min(ms.get(key, t), t)

    agree = np.mean(models["int8"].classify(images, context)[0] == models["float32"].classify(images, context)[0])
    macs = macs_of(model)
    print(f"\nbackend {models['int8'].backend}; {macs / 1e6:.2f} M multiply-accumulates per beat; "
          f"int8/float32 top-1 agreement on these beats {100 * agree:.2f} %\n")
    sizes = {"int8": len(tflite["int8"]), "float32": len(tflite["float32"]), "keras": run.model_path.stat().st_size}
    names = {"int8": "int8 TFLite", "float32": "float32 TFLite", "keras": "Keras (TF)"}
    print(f"{'model':<16}{'file KB':>9}{'ms/beat b=1':>14}{f'ms/beat b={batch}':>15}")
    for kind in ("int8", "float32", "keras"):
        print(f"{names[kind]:<16}{sizes[kind] / 1024:>9.1f}{ms[kind, 1]:>14.3f}{ms[kind, batch]:>15.3f}")
    print(f"\nratios, measured side by side (> 1: int8 faster):")
    for b in (1, batch):
        print(f"  b={b}: float32/int8 {ms['float32', b] / ms['int8', b]:.2f}x, Keras/int8 {ms['keras', b] / ms['int8', b]:.1f}x")
    print(f"  batching gain b=1/b={batch}: int8 {ms['int8', 1] / ms['int8', batch]:.2f}x, "
          f"float32 {ms['float32', 1] / ms['float32', batch]:.2f}x")
    print(f"  file size float32/int8: {sizes['float32'] / sizes['int8']:.2f}x")
    if args.no_reference:
        return 0
    print("\nOne Raspberry Pi 4 core (upper-bound estimate, method in the module docstring):")
    for p in PRECISIONS:
        bound = PI4_CORES * PI4_MOBILENET_V2_4CORE_MS[p]
        factor = bound / ms["reference " + p, 1]
        print(f"  {p}: MobileNet v2 here {ms['reference ' + p, 1]:.1f} ms, on a Pi 4 core <= {bound:.0f} ms "
              f"(4 x {PI4_MOBILENET_V2_4CORE_MS[p]:.0f} ms) -> factor {factor:.1f}; beat model "
              f"<= {ms[p, 1] * factor:.2f} ms/beat at b=1, <= {ms[p, batch] * factor:.2f} ms/beat at b={batch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
