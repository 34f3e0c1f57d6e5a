"""A tiny synthetic training run, in the exact layout ``ecg-train`` writes.

It lets the converter, the parity check and the gateway's model loader be
tested in seconds without MIT-BIH or a real training: three synthetic beat
shapes (narrow, wide and inverted QRS) are rendered with the gateway's own
rasterizer and learnt by a very small CNN of the same input contract as the
real model (float 0..255 pixels, ``Rescaling(1/255)`` inside, softmax out).

``python -m converter.tiny_run OUT_DIR`` writes the run and converts it to
``OUT_DIR/tiny.tflite`` + ``tiny.json`` (how the committed test model in
``tests/fixtures/models/`` was made).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gateway.raster import RASTER_PARAMS, render_beats
from gateway.spec import CHAIN_VERSION, IMAGE_SIZE, MODEL_FS, WINDOW, WINDOW_AFTER, WINDOW_BEFORE

LABELS = ("narrow", "wide", "inverted")
_WIDTH = {"narrow": 6.0, "wide": 24.0, "inverted": 6.0}
_SIGN = {"narrow": 1.0, "wide": 1.0, "inverted": -1.0}


def synthetic_beats(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered beats (uint8 (n, 128, 128)) with labels (indices into :data:`LABELS`), balanced."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    rng.shuffle(labels)
    t = np.arange(WINDOW, dtype=np.float64)[None, :]
    width = np.array([_WIDTH[LABELS[i]] for i in labels])[:, None] * rng.uniform(0.8, 1.25, (n, 1))
    sign = np.array([_SIGN[LABELS[i]] for i in labels])[:, None]
    rr = rng.uniform(180, 300, (n, 1))  # neighbouring beats, as in real windows
    shape = sum(np.exp(-0.5 * ((t - WINDOW_BEFORE - k * rr) / width) ** 2) for k in (-1, 0, 1))
    windows = sign * rng.uniform(0.5, 2.0, (n, 1)) * shape + rng.normal(0, 0.03, (n, WINDOW))
    return render_beats(windows), labels


def tiny_model(seed: int = 0) -> object:
    """A very small CNN with the real model's input and output contract."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 5, strides=4, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_tiny_run(out: str | Path, n_train: int = 600, epochs: int = 15, seed: int = 0) -> Path:
    """Train the tiny model and write ``model.keras``, ``meta.json``, ``representative.npz``, ``heldout.npz``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = synthetic_beats(n_train, seed)
    model = tiny_model(seed)
    model.fit(images[..., None].astype(np.float32), labels, epochs=epochs, batch_size=32, verbose=0)
    model.save(out / "model.keras")
    heldout, heldout_labels = synthetic_beats(n_train // 3, seed + 1)
    np.savez_compressed(out / "representative.npz", images=images[:150])
    np.savez_compressed(out / "heldout.npz", images=heldout, labels=heldout_labels)
    acc = float(np.mean(model.predict(heldout[..., None].astype(np.float32), verbose=0).argmax(1) == heldout_labels))
    meta = {"scheme": "tiny", "labels": list(LABELS), "split": "synthetic", "chain_version": CHAIN_VERSION,
            "sample_rate": MODEL_FS, "window": {"before": WINDOW_BEFORE, "after": WINDOW_AFTER},
            "image_size": IMAGE_SIZE, "raster": RASTER_PARAMS,
            "heldout": "test", "records": {"train": ["synthetic"], "validation": [], "test": ["synthetic"]},
            "training": {"epochs_run": epochs, "seed": seed}, "evaluation": {"accuracy": acc}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    from .convert import convert_run

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m converter.tiny_run OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    print(convert_run(make_tiny_run(out / "run"), out, "tiny"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
