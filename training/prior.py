"""Undo part of the class rebalancing at the output, by an amount chosen on the validation set.

Training draws class ``c`` with a share proportional to ``count_c **
balance`` instead of ``count_c``, so the network's probabilities are
calibrated to that flattened prior: good for rare-class sensitivity, paid
for with false positives.  Multiplying the probabilities by
``count_c ** (tau * (1 - balance))`` moves them back towards the natural
prior: ``tau = 0`` keeps the training prior, ``tau = 1`` restores the
natural one (Bayes' rule for a prior shift).  One scalar ``tau`` is picked
on the validation set (never the test set) to maximise macro-F1, and the
offsets are folded into the bias of the final softmax layer, so the saved
model, and the int8 file made from it, already include them.
"""

from __future__ import annotations

import numpy as np

from .metrics import figures

TAU_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def log_offsets(train_counts: np.ndarray, balance: float, tau: float) -> np.ndarray:
    """Per-class additive logit offsets (zero mean) for a partial prior correction."""
    counts = np.maximum(np.asarray(train_counts, dtype=np.float64), 1.0)
    off = tau * (1.0 - balance) * np.log(counts)
    return off - off.mean()


def apply_offsets(proba: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Probabilities as the softmax would give them with ``offsets`` added to its logits."""
    w = np.asarray(proba, dtype=np.float64) * np.exp(offsets)[None, :]
    return w / w.sum(axis=1, keepdims=True)


def choose_tau(proba: np.ndarray, labels: np.ndarray, train_counts: np.ndarray, balance: float,
               classes: tuple[str, ...] | list[str], grid: tuple[float, ...] = TAU_GRID) -> tuple[float, dict]:
    """The ``tau`` of ``grid`` with the best validation macro-F1 (ties: the smallest), and every score."""
    scores = {}
    for tau in grid:
        pred = apply_offsets(proba, log_offsets(train_counts, balance, tau)).argmax(axis=1)
        scores[tau] = figures(labels, pred, classes)["macro_f1"]
    best = max(grid, key=lambda t: (scores[t], -t))
    return best, scores


def fold_into_model(model, offsets: np.ndarray) -> None:
    """Add ``offsets`` to the bias of the model's last (softmax) Dense layer, in place."""
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    if bias.shape != offsets.shape:
        raise ValueError(f"offsets for {offsets.shape[0]} classes do not fit a layer with {bias.shape[0]} outputs")
    last.set_weights([kernel, (bias + offsets).astype(bias.dtype)])
