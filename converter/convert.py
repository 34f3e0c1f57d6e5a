"""Keras beat classifier -> full-integer int8 TFLite model + the metadata the gateway checks.

``ecg-convert runs/<name> --out DIR [--name seed8]`` reads a training run
(``model.keras``, ``meta.json``, ``representative.npz``) and writes
``DIR/<name>.tflite`` and ``DIR/<name>.json``.  The model has two inputs,
the beat image (``beat_image``) and the beat's context features
(``context``: its RR timing and QRS shape against the patient's recent
beats, :mod:`gateway.signal.context`).  It is quantized with int8 weights,
activations, inputs and output (``TFLITE_BUILTINS_INT8``), so the Pi runs
integer kernels end to end; the representative beats (images and context
features) calibrate the ranges.  Because the Keras model rescales 0..255
pixels inside, the int8 image input gets scale 1 and zero point -128: a
uint8 image maps to int8 exactly; the context input gets its own scale
from the calibration range.  The
written model is loaded back through :func:`gateway.classify.model.load_model`
(what the Pi runs) before this returns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gateway
from gateway.signal.context import N_CONTEXT
from gateway.classify.model import METADATA_FORMAT, chain_fields, load_model, sha256_hex
from gateway.signal.raster import RASTER_PARAMS
from gateway.signal.spec import IMAGE_SIZE
from training.batches import to_model_input

#: Calibration beats used at most (the converter's time grows with it; a few hundred suffice).
MAX_REPRESENTATIVE = 1000


class RunError(ValueError):
    """A training run directory the converter cannot use (and why)."""


@dataclass(frozen=True)
class Run:
    """A training run as written by ``ecg-train``."""

    path: Path
    meta: dict
    model_path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def beats(self, which: str) -> Beats:
        """The beats of ``representative.npz`` or ``heldout.npz``, checked (see :func:`load_beats`)."""
        return load_beats(self.path / f"{which}.npz")


@dataclass(frozen=True)
class Beats:
    """Beats of a run's ``.npz``: what the model is fed, and the labels if the file has them."""

    images: np.ndarray  # uint8 (k, 128, 128)
    context: np.ndarray  # float32 (k, N_CONTEXT), gateway.signal.context features
    labels: np.ndarray | None  # (k,) label indices

    def model_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """The Keras model's inputs, in ``model.inputs`` order: pixels 0..255 ``(k, 128, 128, 1)`` and context."""
        return to_model_input(self.images, self.context)


def load_beats(npz_path: Path) -> Beats:
    """The beats of a run's ``.npz``, refusing anything but uint8 beat images with finite float32 context features."""
    if not npz_path.is_file():
        raise RunError(f"{npz_path}: file not found")
    with np.load(npz_path) as f:
        for name in ("images", "context"):
            if name not in f:
                raise RunError(f"{npz_path}: no {name!r} array (has {', '.join(f.files) or 'nothing'})")
        images, context = f["images"], f["context"]
        labels = f["labels"] if "labels" in f else None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise RunError(f"{npz_path}: 'images' must be uint8 (k, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                       f"got {images.dtype} {images.shape}")
    if images.shape[0] == 0:
        raise RunError(f"{npz_path}: 'images' is empty")
    if (context.dtype != np.float32 or context.shape != (images.shape[0], N_CONTEXT)
            or not np.isfinite(context).all()):
        raise RunError(f"{npz_path}: 'context' must be finite float32 ({images.shape[0]}, {N_CONTEXT}) context "
                       f"features aligned with 'images', got {context.dtype} {context.shape}")
    if labels is not None and labels.shape != (images.shape[0],):
        raise RunError(f"{npz_path}: 'labels' has shape {labels.shape}, expected ({images.shape[0]},)")
    return Beats(images, context, labels)


def load_run(path: str | Path) -> Run:
    """Open a run directory, checking its metadata fits this gateway's chain."""
    path = Path(path)
    meta_path, model_path = path / "meta.json", path / "model.keras"
    for p in (meta_path, model_path):
        if not p.is_file():
            raise RunError(f"{p}: file not found; is {path} a training run (ecg-train --out)?")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for name in ("scheme", "labels"):
        if name not in meta:
            raise RunError(f"{meta_path}: field {name!r} is missing")
    for name, ours in run_chain(meta).items():
        if ours != chain_fields()[name]:
            raise RunError(f"{meta_path}: the run was trained with {name} = {ours!r} but this gateway's "
                           f"chain has {chain_fields()[name]!r}; retrain it with the current chain")
    return Run(path, meta, model_path)


def run_chain(meta: dict) -> dict[str, object]:
    """The chain a run was trained with (``meta.json`` as ``ecg-train`` writes it), under the model metadata's names."""
    window = meta.get("window")
    if not isinstance(window, dict):
        raise RunError(f"meta.json: field 'window' must be {{\"before\": ..., \"after\": ...}}, got {window!r}")
    chain = {"sample_rate": meta.get("sample_rate"), "window_before": window.get("before"),
             "window_after": window.get("after"), "image_size": meta.get("image_size"),
             "chain_version": meta.get("chain_version"), "context_features": meta.get("context_features")}
    missing = [name for name, value in chain.items() if value is None]
    if missing:
        raise RunError(f"meta.json: chain field(s) {', '.join(missing)} missing")
    return chain


def representative_dataset(inputs: dict[str, np.ndarray]) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """The converter's calibration input: one sample (batch of 1) of every model input at a time.

    ``inputs`` maps each model input's name to its samples; for the beat
    model, ``beat_image`` float32 pixels 0..255 ``(k, 128, 128, 1)`` and
    ``context`` ``(k, N_CONTEXT)``.  Samples go by name, not position: the
    converted model orders its input tensors as it likes, and a list would be
    fed in that order.
    """
    lengths = {name: len(x) for name, x in inputs.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"representative inputs differ in length: {lengths}")

    n = min(next(iter(lengths.values())), MAX_REPRESENTATIVE)

    def gen() -> Iterator[dict[str, np.ndarray]]:
        for i in range(n):
            yield {name: x[i:i + 1].astype(np.float32) for name, x in inputs.items()}
    return gen


def to_tflite(model: object, representative: Sequence[np.ndarray] | None) -> bytes:
    """Convert a Keras model: full-integer int8 calibrated on ``representative`` inputs, or float32 with ``None``.

    ``representative`` holds one array per model input, in ``model.inputs``
    order.  The float32 form exists for the benchmark's int8-vs-float comparison.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        names = [x.name for x in model.inputs]
        if len(representative) != len(names):
            raise ValueError(f"the model has {len(names)} inputs ({', '.join(names)}), "
                             f"got {len(representative)} representative arrays")
        converter.representative_dataset = representative_dataset(dict(zip(names, representative)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # The calibration data gives the input range; TF still warns that no statistics were given.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def load_keras(run: Run) -> object:
    import keras

    model = keras.models.load_model(run.model_path, compile=False)
    shapes = [tuple(x.shape[1:]) for x in model.inputs]
    if shapes != [(IMAGE_SIZE, IMAGE_SIZE, 1), (N_CONTEXT,)]:
        raise RunError(f"{run.model_path}: model inputs have item shapes {shapes}, expected "
                       f"[({IMAGE_SIZE}, {IMAGE_SIZE}, 1), ({N_CONTEXT},)] (beat_image, context)")
    if tuple(model.output_shape)[1:] != (len(run.meta["labels"]),):
        raise RunError(f"{run.model_path}: model output shape {model.output_shape} but meta.json lists "
                       f"{len(run.meta['labels'])} labels")
    return model


#: What ``ecg-train`` trains on (its dataset builder reads MIT-BIH records and symbols only).
TRAINING_DATA = "MIT-BIH Arrhythmia Database v1.0.0 (PhysioNet mitdb)"


def build_metadata(run: Run, name: str, tflite: bytes, n_representative: int) -> dict:
    """The ``<name>.json`` written beside the model: what the gateway checks, and where the model came from."""
    import keras
    import tensorflow as tf

    meta = run.meta
    return {
        "format": METADATA_FORMAT,
        "name": name,
        "scheme": meta["scheme"],
        "labels": list(meta["labels"]),
        **run_chain(meta),
        "raster": meta.get("raster", RASTER_PARAMS),
        "quantization": {"weights": "int8", "activations": "int8", "input": "int8", "output": "int8",
                         "representative_beats": n_representative},
        "training": {"data": TRAINING_DATA, "run": run.name, "split": meta.get("split"),
                     "heldout": meta.get("heldout"), "records": meta.get("records"), "beats": meta.get("beats"),
                     "label_members": meta.get("label_members"), "model": meta.get("model"),
                     "hyperparameters": meta.get("training")},
        "evaluation": meta.get("evaluation"),
        "converter": {"ecg_edge": gateway.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                      "converted_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
        "sha256": sha256_hex(tflite),
    }


def convert_run(run_dir: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """Convert a run to ``out_dir/<name>.tflite`` + ``.json`` (name defaults to the scheme); return the .tflite path."""
    run = load_run(run_dir)
    name = name or run.meta["scheme"]
    representative = run.beats("representative")
    tflite = to_tflite(load_keras(run), representative.model_inputs())
    meta = build_metadata(run, name, tflite, min(len(representative.images), MAX_REPRESENTATIVE))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tflite_path = out_dir / f"{name}.tflite"
    _write_atomic(tflite_path, tflite)
    _write_atomic(tflite_path.with_suffix(".json"), (json.dumps(meta, indent=2) + "\n").encode())
    load_model(tflite_path)  # what the gateway will do: refuse here rather than on the Pi
    return tflite_path


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file so a reader never sees half a model."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="training run directory (model.keras, meta.json, representative.npz)")
    parser.add_argument("--out", type=Path, required=True, help="directory for <name>.tflite and <name>.json")
    parser.add_argument("--name", help="file name stem (default: the run's scheme, e.g. seed8)")
    args = parser.parse_args(argv)
    try:
        path = convert_run(args.run, args.out, args.name)
    except (RunError, ValueError, OSError) as e:
        print(f"ecg-convert: {e}", file=sys.stderr)
        return 2
    meta = json.loads(path.with_suffix(".json").read_text())
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KB, sha256 {meta['sha256'][:16]}...) "
          f"and {path.with_suffix('.json').name}: scheme {meta['scheme']}, labels {' '.join(meta['labels'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
