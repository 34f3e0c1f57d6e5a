"""Beat images for Keras: rendered on the fly, class-rebalanced and augmented for training.

Windows are rendered with :func:`gateway.signal.raster.render_beats`, the very
function the gateway calls, so train and field images agree byte for byte
(before augmentation).  The model takes pixel values 0..255 as float32.
"""

from __future__ import annotations

import math

import numpy as np

from gateway.signal.raster import render_beats

from .augment import augment


def to_model_input(images: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``(n, 128, 128)`` images and their context features -> the model's two float32 inputs."""
    if len(images) != len(context):
        raise ValueError(f"{len(images)} images but {len(context)} rows of context features")
    return np.asarray(images, dtype=np.float32)[..., None], np.asarray(context, dtype=np.float32)


def render(windows: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Render many windows in chunks (bounded memory); uint8 ``(n, 128, 128)``."""
    windows = np.asarray(windows)
    parts = [render_beats(windows[i:i + batch]) for i in range(0, len(windows), batch)]
    return np.concatenate(parts) if parts else np.empty((0, 128, 128), np.uint8)


def sampling_weights(labels: np.ndarray, balance: float) -> np.ndarray:
    """Per-beat draw probabilities giving class ``c`` a share proportional to ``count_c ** balance``.

    ``balance = 1`` keeps the natural class mix, ``0`` draws every class
    equally often; in between softens the imbalance (0.5: square root).
    """
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance must lie in [0, 1], got {balance}")
    labels = np.asarray(labels)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    share = counts.astype(np.float64) ** balance
    share /= share.sum()
    weights = share[inverse] / counts[inverse]
    return weights / weights.sum()


def make_training_sequence(windows: np.ndarray, context: np.ndarray, labels: np.ndarray, *, epoch_size: int,
                           batch_size: int,
                           balance: float, augment_fraction: float, seed: int, stretch: bool = True):
    """A Keras ``PyDataset`` drawing ``epoch_size`` beats per epoch (with replacement) by class balance.

    A fraction ``augment_fraction`` of the drawn beats is augmented before
    rendering (``stretch``: whether the seed's time-stretch is among the
    variants); the context features are never augmented.  Epoch ``e`` uses
    the generator seeded with ``(seed, e)``, so a run is reproducible.
    """
    import keras

    weights = sampling_weights(labels, balance)

    class TrainingBeats(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._draw()

        def _draw(self) -> None:
            rng = np.random.default_rng((seed, self.epoch))
            self.order = rng.choice(len(labels), size=epoch_size, replace=True, p=weights)

        def __len__(self) -> int:
            return math.ceil(epoch_size / batch_size)

        def __getitem__(self, i: int):
            idx = self.order[i * batch_size:(i + 1) * batch_size]
            w = np.asarray(windows[idx], dtype=np.float64)
            rng = np.random.default_rng((seed, self.epoch, i))
            pick = rng.random(len(idx)) < augment_fraction
            if pick.any():
                w[pick] = augment(w[pick], rng, stretch)
            return to_model_input(render_beats(w), context[idx]), np.asarray(labels[idx])

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._draw()

    return TrainingBeats()
