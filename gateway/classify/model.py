"""Loading the int8 beat classifier and running it on rendered beat images.

A model is a ``.tflite`` file plus a ``.json`` metadata file of the same
name, both written by ``ecg-convert``.  The metadata says which signal chain
the model was trained for; a model trained on other windows, images or
filters would silently misclassify, so :func:`load_model` refuses any model
whose metadata disagrees with :mod:`gateway.signal.spec` (or with the context
features of :mod:`gateway.signal.context`), and any ``.tflite`` whose bytes no
longer match the SHA-256 recorded at conversion.

The model has two inputs, the beat image and the beat's context features
(its RR timing and QRS shape against the patient's recent beats,
:mod:`gateway.signal.context`); the classifier finds each by its shape, since a
converter may order a model's input tensors as it likes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np

from ..signal import spec
from ..signal.context import CONTEXT_FEATURES, N_CONTEXT
from .interpreters import TensorInfo, TFLiteInterpreter, make_interpreter

#: Value of the metadata's ``format`` field this gateway reads.
METADATA_FORMAT = "ecg-edge-model/1"
#: Beats per interpreter call in :meth:`BeatClassifier.classify`.
DEFAULT_BATCH = 32


class ModelError(ValueError):
    """A model file or its metadata that this gateway must not run (and why)."""


def chain_fields() -> dict[str, object]:
    """The metadata fields that must equal this gateway's chain, with their values.

    The converter writes exactly these, so both sides share one definition.
    """
    return {
        "sample_rate": spec.MODEL_FS,
        "window_before": spec.WINDOW_BEFORE,
        "window_after": spec.WINDOW_AFTER,
        "image_size": spec.IMAGE_SIZE,
        "chain_version": spec.CHAIN_VERSION,
        "context_features": list(CONTEXT_FEATURES),
    }


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def validate_metadata(meta: object, model_bytes: bytes, source: str = "model") -> None:
    """Raise :class:`ModelError` naming the first field that makes the model unusable here.

    Checks the format, the labels and scheme, every chain field, and that
    the SHA-256 recorded in the metadata is the hash of ``model_bytes``.
    """
    if not isinstance(meta, dict):
        raise ModelError(f"{source}: metadata must be a JSON object, got {type(meta).__name__}")
    for name in ("format", "scheme", "labels", *chain_fields(), "sha256"):
        if name not in meta:
            raise ModelError(f"{source}: metadata field {name!r} is missing")
    if meta["format"] != METADATA_FORMAT:
        raise ModelError(f"{source}: metadata field 'format' is {meta['format']!r}; "
                         f"this gateway reads {METADATA_FORMAT!r}")
    if not isinstance(meta["scheme"], str) or not meta["scheme"]:
        raise ModelError(f"{source}: metadata field 'scheme' must be a non-empty string, got {meta['scheme']!r}")
    labels = meta["labels"]
    if (not isinstance(labels, list) or len(labels) < 2
            or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels)):
        raise ModelError(f"{source}: metadata field 'labels' must list at least two distinct "
                         f"non-empty strings, got {labels!r}")
    for name, ours in chain_fields().items():
        theirs = meta[name]
        if type(theirs) is not type(ours) or theirs != ours:
            raise ModelError(f"{source}: metadata field {name!r} is {theirs!r} but this gateway's chain uses "
                             f"{ours!r} (gateway.signal.spec, gateway.signal.context); the model was trained for a different "
                             f"signal chain and must be retrained/converted for this one")
    actual = sha256_hex(model_bytes)
    if meta["sha256"] != actual:
        raise ModelError(f"{source}: the .tflite file was modified after conversion: its SHA-256 is "
                         f"{actual[:16]}... but metadata field 'sha256' records {str(meta['sha256'])[:16]}...")


def _quantize(x: np.ndarray, inp: TensorInfo) -> np.ndarray:
    """Float values -> the input tensor (with its scale and zero point if integer)."""
    if inp.dtype.kind == "f":
        return x.astype(inp.dtype)
    info = np.iinfo(inp.dtype)
    return np.clip(np.rint(x / inp.scale) + inp.zero_point, info.min, info.max).astype(inp.dtype)


def _find_input(interpreter: TFLiteInterpreter, item_shape: tuple[int, ...]) -> int | None:
    """Position in ``interpreter.inputs`` of the input whose batch items have ``item_shape`` (None: none)."""
    found = [k for k, inp in enumerate(interpreter.inputs) if inp.item_shape == item_shape]
    return found[0] if found else None


class BeatClassifier:
    """The beat classifier as the stream processor sees it: uint8 images and context features in, labels out.

    Not thread-safe: one interpreter, one caller at a time (the gateway runs
    one classifier per event loop).
    """

    def __init__(self, interpreter: TFLiteInterpreter, metadata: dict, batch_size: int = DEFAULT_BATCH):
        self._interp = interpreter
        self.metadata = metadata
        self.labels: tuple[str, ...] = tuple(metadata["labels"])
        self.scheme: str = metadata["scheme"]
        self.version: str = f"{self.scheme}-{metadata['sha256'][:8]}"
        self.backend: str = interpreter.backend
        self.batch_size = batch_size
        size = spec.IMAGE_SIZE
        wanted = {"beat image": (size, size, 1), "context features": (N_CONTEXT,)}
        found = {what: _find_input(interpreter, shape) for what, shape in wanted.items()}
        shapes = ", ".join(str(inp.item_shape) for inp in interpreter.inputs)
        missing = [f"{what} {shape}" for what, shape in wanted.items() if found[what] is None]
        if missing:
            raise ModelError(f"model {self.version}: no input tensor for the {' and the '.join(missing)} "
                             f"(its inputs have item shapes {shapes}); this gateway feeds each beat's image "
                             f"and its {N_CONTEXT} context features ({', '.join(CONTEXT_FEATURES)})")
        if len(interpreter.inputs) != len(wanted):
            raise ModelError(f"model {self.version}: {len(interpreter.inputs)} input tensors (item shapes "
                             f"{shapes}); this gateway feeds only the beat image and the context features")
        self._image_at, self._context_at = found["beat image"], found["context features"]
        #: the context input tensor (its scale and zero point say which feature values int8 can represent)
        self.context_input: TensorInfo = interpreter.inputs[self._context_at]
        self._pixel_lut = _quantize(np.arange(256, dtype=np.float32), interpreter.inputs[self._image_at])
        if interpreter.output.item_shape != (len(self.labels),):
            raise ModelError(f"model {self.version}: output tensor has item shape "
                             f"{interpreter.output.item_shape} but the metadata lists {len(self.labels)} labels")

    def __repr__(self) -> str:
        return f"BeatClassifier({self.version}, labels={self.labels}, backend={self.backend})"

    def _to_inputs(self, images: np.ndarray, context: np.ndarray) -> list[np.ndarray]:
        """uint8 pixels and float context features -> the input tensors, in the model's input order.

        Pixels go through a 256-entry table (one lookup quantizes a whole batch).
        """
        xs = {self._image_at: np.take(self._pixel_lut, images)[..., None],
              self._context_at: _quantize(context, self.context_input)}
        return [xs[k] for k in range(len(xs))]

    def _from_output(self, y: np.ndarray) -> np.ndarray:
        out = self._interp.output
        if out.dtype.kind == "f":
            return y.astype(np.float32, copy=False)
        return ((y.astype(np.float32) - out.zero_point) * out.scale).astype(np.float32)

    def classify(self, images: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classify rendered beats -> (label indices ``(n,)``, probabilities ``(n, k)``).

        ``images`` is uint8 ``(n, 128, 128)``; ``context`` float32
        ``(n, N_CONTEXT)``, each row the beat's features from
        :class:`gateway.signal.context.ContextTracker`.
        Runs in chunks of ``batch_size`` beats per interpreter call; ``n`` may be 0.
        """
        size = spec.IMAGE_SIZE
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            got = images.dtype if isinstance(images, np.ndarray) else type(images).__name__
            raise ValueError(f"classify: expected a uint8 numpy array of beat images, got {got}")
        if images.ndim != 3 or images.shape[1:] != (size, size):
            raise ValueError(f"classify: expected images of shape (n, {size}, {size}), got {images.shape}")
        if not isinstance(context, np.ndarray) or context.dtype != np.float32:
            got = context.dtype if isinstance(context, np.ndarray) else type(context).__name__
            raise ValueError(f"classify: expected a float32 numpy array of context features, got {got}")
        if context.shape != (images.shape[0], N_CONTEXT):
            raise ValueError(f"classify: expected context features of shape ({images.shape[0]}, {N_CONTEXT}) for "
                             f"{images.shape[0]} images, got {context.shape}")
        if not np.isfinite(context).all():
            raise ValueError("classify: context features must be finite numbers")
        k = len(self.labels)
        probs = np.empty((images.shape[0], k), dtype=np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            chunk = slice(start, start + self.batch_size)
            probs[chunk] = self._from_output(self._interp.run(*self._to_inputs(images[chunk], context[chunk])))
        return probs.argmax(axis=1), probs


def shipped_model_path(scheme: str) -> Path:
    """Path of the model shipped in the package for ``scheme`` (``gateway/models/<scheme>.tflite``)."""
    models = resources.files("gateway") / "models"
    path = Path(str(models / f"{scheme}.tflite"))
    if not path.is_file():
        shipped = sorted(p.stem for p in Path(str(models)).glob("*.tflite")) if Path(str(models)).is_dir() else []
        raise ModelError(f"no shipped model for scheme {scheme!r} (shipped: {', '.join(shipped) or 'none'})")
    return path


def load_model(path: str | Path | None = None, scheme: str | None = None, *,
               num_threads: int = 1, backend: str = "auto", batch_size: int = DEFAULT_BATCH) -> BeatClassifier:
    """Load and check a model: ``path`` to a ``.tflite`` (its ``.json`` beside it), or the shipped one.

    With ``path=None`` the shipped model for ``scheme`` (default ``"seed8"``)
    is loaded; with a path and a scheme, the model's scheme must match.
    Raises :class:`ModelError` naming the field when the metadata does not
    fit this gateway, or saying the ``.tflite`` was modified.
    """
    path = shipped_model_path(scheme or "seed8") if path is None else Path(path)
    if path.suffix != ".tflite":
        raise ModelError(f"{path}: expected a .tflite file")
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.is_file():
            raise ModelError(f"{p}: file not found (a model is a .tflite and a .json of the same name)")
    model_bytes = path.read_bytes()
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{meta_path}: not valid JSON ({e})") from e
    validate_metadata(meta, model_bytes, source=str(meta_path))
    if scheme is not None and meta["scheme"] != scheme:
        raise ModelError(f"{meta_path}: metadata field 'scheme' is {meta['scheme']!r}, expected {scheme!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return BeatClassifier(make_interpreter(model_bytes, num_threads=num_threads, backend=backend), meta, batch_size)
