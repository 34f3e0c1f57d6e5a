"""A tiny synthetic training run, in the exact layout ``ecg-train`` writes.

It lets the converter, the parity check and the gateway's model loader be
tested in seconds without MIT-BIH or a real training: synthetic beats
rendered with the gateway's own rasterizer, with synthetic context
features (the beat's RR timing and QRS shape against the patient's recent
beats, :mod:`gateway.signal.context`), learnt by a very small CNN of the same
input contract as the real model (a float 0..255 ``beat_image`` with
``Rescaling(1/255)`` inside, a float ``context`` of
:data:`gateway.signal.context.N_CONTEXT` features, softmax out).  Four classes:
narrow, wide and inverted QRS, and ``early``, a narrow beat that arrives
early (``pre`` well below 0).  Narrow and early beats draw the same
images, so only a model that is fed the context features as trained can
tell them apart, as with atrial premature beats.

``python -m converter.tiny_run OUT_DIR`` writes the run and converts it to
``OUT_DIR/tiny.tflite`` + ``tiny.json`` (how the committed test model in
``tests/fixtures/models/`` was made).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gateway.signal.context import CLIP, CONTEXT_FEATURES, N_CONTEXT
from gateway.signal.raster import RASTER_PARAMS, render_beats
from gateway.signal.spec import CHAIN_VERSION, IMAGE_SIZE, MODEL_FS, WINDOW, WINDOW_AFTER, WINDOW_BEFORE
from training.batches import to_model_input

from .convert import convert_run

LABELS = ("narrow", "early", "wide", "inverted")
_WIDTH = {"narrow": 6.0, "early": 6.0, "wide": 24.0, "inverted": 6.0}
_SIGN = {"narrow": 1.0, "early": 1.0, "wide": 1.0, "inverted": -1.0}


def synthetic_beats(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` beats, balanced: images uint8 ``(n, 128, 128)``, context float32 ``(n, N_CONTEXT)``, label indices.

    Early beats have ``pre`` (and ``long``) in -1..-0.4 (a beat at 50-75 %
    of the usual RR); narrow ones about 0; wide and inverted ones either.
    The other features are noise about 0.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    rng.shuffle(labels)
    names = [LABELS[i] for i in labels]
    t = np.arange(WINDOW, dtype=np.float64)[None, :]
    width = np.array([_WIDTH[name] for name in names])[:, None] * rng.uniform(0.8, 1.25, (n, 1))
    sign = np.array([_SIGN[name] for name in names])[:, None]
    spacing = rng.uniform(180, 300, (n, 1))  # neighbouring beats, as in real windows
    shape = sum(np.exp(-0.5 * ((t - WINDOW_BEFORE - k * spacing) / width) ** 2) for k in (-1, 0, 1))
    windows = sign * rng.uniform(0.5, 2.0, (n, 1)) * shape + rng.normal(0, 0.03, (n, WINDOW))
    early = np.array([name == "early" or (name in ("wide", "inverted") and rng.random() < 0.5) for name in names])
    pre = np.where(early, rng.uniform(-1.0, -0.4, n), rng.normal(0.0, 0.08, n))
    context = rng.normal(0.0, 0.1, (n, N_CONTEXT))
    context[:, CONTEXT_FEATURES.index("pre")] = pre
    context[:, CONTEXT_FEATURES.index("long")] = pre
    return render_beats(windows), np.clip(context, -CLIP, CLIP).astype(np.float32), labels


def tiny_model(seed: int = 0) -> object:
    """A very small CNN with the real model's inputs and output (the context through a dense layer of its own)."""
    import keras

    keras.utils.set_random_seed(seed)
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="beat_image")
    context = keras.Input((N_CONTEXT,), name="context")
    x = keras.layers.Rescaling(1 / 255)(image)
    x = keras.layers.Conv2D(8, 5, strides=4, activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, keras.layers.Dense(8, activation="relu")(context)])
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax")(x)
    model = keras.Model([image, context], outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_tiny_run(out: str | Path, n_train: int = 600, epochs: int = 20, seed: int = 0) -> Path:
    """Train the tiny model and write ``model.keras``, ``meta.json``, ``representative.npz``, ``heldout.npz``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images, context, labels = synthetic_beats(n_train, seed)
    model = tiny_model(seed)
    model.fit(to_model_input(images, context), labels, epochs=epochs, batch_size=32, verbose=0)
    model.save(out / "model.keras")
    heldout, heldout_context, heldout_labels = synthetic_beats(n_train // 3, seed + 1)
    np.savez_compressed(out / "representative.npz", images=images[:150], context=context[:150])
    np.savez_compressed(out / "heldout.npz", images=heldout, context=heldout_context, labels=heldout_labels)
    predicted = model.predict(to_model_input(heldout, heldout_context), verbose=0).argmax(1)
    acc = float(np.mean(predicted == heldout_labels))
    meta = {"scheme": "tiny", "labels": list(LABELS), "split": "synthetic", "chain_version": CHAIN_VERSION,
            "sample_rate": MODEL_FS, "window": {"before": WINDOW_BEFORE, "after": WINDOW_AFTER},
            "image_size": IMAGE_SIZE, "raster": RASTER_PARAMS, "context_features": list(CONTEXT_FEATURES),
            "context_input": {"dtype": "float32", "shape": [None, N_CONTEXT]},
            "heldout": "test", "records": {"train": ["synthetic"], "validation": [], "test": ["synthetic"]},
            "training": {"epochs_run": epochs, "seed": seed}, "evaluation": {"accuracy": acc}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m converter.tiny_run OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    print(convert_run(make_tiny_run(out / "run"), out, "tiny"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
