"""TFLite interpreter backends behind one small interface.

The Pi runs the model through whichever TFLite runtime is installed:
LiteRT (``ai-edge-litert``, the maintained successor), the legacy
``tflite-runtime`` wheel, or full TensorFlow on a development machine.
They share the same ``Interpreter`` API, so the gateway only needs to pick
one, in that order.  TensorFlow is tried last and only imported when
neither light runtime is installed: importing it first in a process
breaks ``tflite-runtime`` and costs seconds and hundreds of MB on a Pi.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Backend name -> (module to import, attribute path of the Interpreter class), in "auto" order.
BACKENDS: dict[str, tuple[str, str]] = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "Interpreter"),
    "tflite_runtime": ("tflite_runtime.interpreter", "Interpreter"),
    "tensorflow": ("tensorflow", "lite.Interpreter"),
}


class BackendError(RuntimeError):
    """No usable TFLite runtime (or the requested one is not installed)."""


@dataclass(frozen=True)
class TensorInfo:
    """What the gateway needs to know about an input or output tensor."""

    index: int
    item_shape: tuple[int, ...]  # shape of one batch item (the batch dimension left out)
    dtype: np.dtype
    scale: float  # 0.0 when the tensor is not quantized
    zero_point: int

    @classmethod
    def from_details(cls, d: dict) -> TensorInfo:
        scale, zero_point = d["quantization"]
        return cls(int(d["index"]), tuple(int(s) for s in d["shape"][1:]), np.dtype(d["dtype"]),
                   float(scale), int(zero_point))


class TFLiteInterpreter:
    """One loaded model with one or more inputs and one output, run batch by batch.

    ``inputs`` lists the input tensors in the model's own order (which a
    converter may have chosen: callers find an input by its shape, not its
    position).  ``run`` resizes the batch dimension only when the batch size
    changes, so a stream of equal-sized batches pays the tensor re-allocation once.
    """

    def __init__(self, raw: object, backend: str):
        self.raw = raw
        self.backend = backend
        inputs, outputs = raw.get_input_details(), raw.get_output_details()
        if not inputs or len(outputs) != 1:
            raise ValueError(f"expected a model with at least one input and one output tensor, "
                             f"got {len(inputs)} inputs and {len(outputs)} outputs")
        raw.allocate_tensors()
        self.inputs: tuple[TensorInfo, ...] = tuple(TensorInfo.from_details(d) for d in inputs)
        self.output = TensorInfo.from_details(outputs[0])
        self._batch = int(inputs[0]["shape"][0])

    def run(self, *xs: np.ndarray) -> np.ndarray:
        """Invoke on one batch per input, in :attr:`inputs` order, each of its dtype; return a copy of the output."""
        if len(xs) != len(self.inputs):
            raise ValueError(f"the model has {len(self.inputs)} input tensors, got {len(xs)} batches")
        for k, (x, inp) in enumerate(zip(xs, self.inputs)):
            if x.dtype != inp.dtype or x.shape[1:] != inp.item_shape:
                raise ValueError(f"model input {k} expects {inp.dtype} batches of shape (n, "
                                 f"{', '.join(map(str, inp.item_shape))}), got {x.dtype} {x.shape}")
        n = xs[0].shape[0]
        if any(x.shape[0] != n for x in xs):
            raise ValueError(f"every input needs the same batch size, got {[x.shape[0] for x in xs]}")
        if n != self._batch:
            for x, inp in zip(xs, self.inputs):
                self.raw.resize_tensor_input(inp.index, list(x.shape), strict=True)
            self.raw.allocate_tensors()
            self._batch = n
        for x, inp in zip(xs, self.inputs):
            self.raw.set_tensor(inp.index, x)
        self.raw.invoke()
        return self.raw.get_tensor(self.output.index).copy()


def _interpreter_class(backend: str) -> type:
    """Import ``backend`` and return its Interpreter class (ImportError if not installed).

    A module without the class (TensorFlow is deleting ``tf.lite.Interpreter``)
    counts as not installed.
    """
    module_name, attr_path = BACKENDS[backend]
    obj = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        if not hasattr(obj, attr):
            raise ImportError(f"{module_name} has no {attr_path}")
        obj = getattr(obj, attr)
    return obj


def make_interpreter(path: str | Path | bytes, num_threads: int = 1, backend: str = "auto") -> TFLiteInterpreter:
    """Load a .tflite (a file path, or its bytes) with the first installed runtime (or the one named).

    Passing the bytes lets a caller run exactly the bytes it has checked (see
    :mod:`gateway.classify.model`).  ``backend`` is ``"auto"`` or one of :data:`BACKENDS`;
    the chosen name is ``.backend`` on the result so logs can say what ran.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"unknown interpreter backend {backend!r}; choose 'auto' or one of {', '.join(BACKENDS)}")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
    if isinstance(path, bytes):
        source = {"model_content": path}
    elif Path(path).is_file():
        source = {"model_path": str(path)}
    else:
        raise FileNotFoundError(f"model file not found: {path}")
    candidates = list(BACKENDS) if backend == "auto" else [backend]
    failures = []
    for name in candidates:
        try:
            cls = _interpreter_class(name)
        except ImportError as e:
            failures.append(f"{name}: {e}")
            continue
        return TFLiteInterpreter(cls(**source, num_threads=num_threads), name)
    raise BackendError("no TFLite runtime could be imported (" + "; ".join(failures) + "). "
                       "Install one: pip install 'ecg-edge[litert]' (ai-edge-litert), or tflite-runtime")
