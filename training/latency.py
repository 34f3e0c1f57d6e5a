"""Per-beat inference time: measured single-threaded on this x86 machine, scaled to a Pi 4 core.

The shipped model runs as int8 TFLite on one Cortex-A72 core of a
Raspberry Pi 4.  There is no Pi here, so the estimate is built from two
documented pieces:

* the model converted to a *float32* TFLite flatbuffer (no quantization;
  the int8 file is the converter's job) timed with one interpreter thread
  on this machine, taking the minimum over repeats because the machine is
  shared and the minimum is the least disturbed measurement;
* :data:`PI4_OVER_X86`, a deliberately pessimistic slowdown of one Pi 4
  core (Cortex-A72, 1.5 GHz, 128-bit NEON) against one modern x86 core
  (>= 3 GHz, 256-bit AVX2 FMA): half the clock and half the vector width
  give ~4x on float kernels; 8x leaves room for the A72's smaller caches
  and lower issue rate.  int8 kernels on the Pi are usually faster than
  float, not slower, so the float-based figure is an upper estimate.

A second, independent estimate comes from arithmetic alone: multiply-
accumulates divided by :data:`PI4_MACS_PER_S`, one A72 core sustaining
3 G MAC/s in float, a quarter of its NEON peak (two 128-bit FMA pipes,
8 float MACs per cycle at 1.5 GHz = 12 G MAC/s).
"""

from __future__ import annotations

import time

import numpy as np

from gateway.signal.context import N_CONTEXT
from gateway.signal.spec import IMAGE_SIZE

#: Assumed slowdown of one Pi 4 core against one x86 core (see the module docstring).
PI4_OVER_X86 = 8.0
#: Assumed sustained float multiply-accumulates per second of one Pi 4 core.
PI4_MACS_PER_S = 3.0e9


def tflite_float_ms(model, repeats: int = 200) -> dict[str, float]:
    """Time one beat through the float TFLite form of ``model`` with a single thread, in ms."""
    import tensorflow as tf

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - LiteRT is installed with the train extras
        Interpreter = tf.lite.Interpreter
    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    interp = Interpreter(model_content=flatbuffer, num_threads=1)
    interp.allocate_tensors()
    out = interp.get_output_details()[0]["index"]
    rng = np.random.default_rng(0)
    item = {(IMAGE_SIZE, IMAGE_SIZE, 1): rng.integers(0, 256, (1, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32),
            (N_CONTEXT,): rng.normal(0, 0.3, (1, N_CONTEXT)).astype(np.float32)}
    feeds = [(d["index"], item[tuple(int(v) for v in d["shape"][1:])]) for d in interp.get_input_details()]
    times = []
    for _ in range(repeats + 10):
        start = time.perf_counter()
        for index, x in feeds:
            interp.set_tensor(index, x)
        interp.invoke()
        interp.get_tensor(out)
        times.append(time.perf_counter() - start)
    times = np.asarray(times[10:]) * 1e3
    return {"min_ms": float(times.min()), "median_ms": float(np.median(times))}


def estimate(model, macs: int) -> dict[str, float]:
    """x86 single-thread measurement and the two Pi 4 estimates described in the module docstring."""
    x86 = tflite_float_ms(model)
    return {"x86_float_min_ms": x86["min_ms"], "x86_float_median_ms": x86["median_ms"],
            "pi4_factor": PI4_OVER_X86, "pi4_est_ms_from_x86": x86["min_ms"] * PI4_OVER_X86,
            "macs": macs, "pi4_est_ms_from_macs": macs / PI4_MACS_PER_S * 1e3}
