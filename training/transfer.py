"""Transfer: start a training from another run's weights (``ecg-train --init-from RUN [--freeze-conv]``).

A model trained on one label scheme or database already knows what a QRS
complex looks like; another scheme or database then needs only its
classifier layers learnt again.  Every layer of the new model whose name
and weight shapes match the run's model is copied (the convolutions, the
context layer and the dense layer when the widths are the same; the output
layer only when the class count is too), the others keep their fresh
initialisation.  ``--freeze-conv`` then keeps the convolutional part as
copied (its batch normalisation in inference mode), so only the dense part
is fitted.  The run must be of the same signal chain and context features.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.signal.context import CONTEXT_FEATURES
from gateway.signal.spec import CHAIN_VERSION

#: Name prefixes of the convolutional part's layers (training.model).
CONV_LAYERS = ("conv", "bn")


def init_from(model, run: str | Path, freeze_conv: bool = False) -> dict:
    """Copy ``run``'s matching weights into ``model`` (before it is compiled); returns what was done, for meta.json."""
    import keras

    run = Path(run)
    for name in ("model.keras", "meta.json"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"--init-from {run}: no {name} (a run directory written by ecg-train)")
    meta = json.loads((run / "meta.json").read_text())
    if meta.get("chain_version") != CHAIN_VERSION or meta.get("context_features") != list(CONTEXT_FEATURES):
        raise ValueError(f"--init-from {run}: trained for chain {meta.get('chain_version')!r} with context "
                         f"{meta.get('context_features')}, not this chain ({CHAIN_VERSION!r}, {list(CONTEXT_FEATURES)})")
    source = keras.models.load_model(run / "model.keras")
    names = {layer.name: layer for layer in source.layers}
    copied, fresh = [], []
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        theirs = names[layer.name].get_weights() if layer.name in names else []
        if len(theirs) == len(weights) and all(a.shape == b.shape for a, b in zip(theirs, weights)):
            layer.set_weights(theirs)
            copied.append(layer.name)
        else:
            fresh.append(layer.name)
    conv = [layer for layer in model.layers if layer.name.startswith(CONV_LAYERS)]
    if freeze_conv:
        missing = [layer.name for layer in conv if layer.name not in copied]
        if missing:
            raise ValueError(f"--freeze-conv: layers {missing} could not be copied from {run} (other --widths?)")
        for layer in conv:
            layer.trainable = False
    return {"run": str(run), "scheme": meta.get("scheme"), "split": meta.get("split"), "copied": copied,
            "initialised": fresh, "frozen": [layer.name for layer in conv] if freeze_conv else []}
