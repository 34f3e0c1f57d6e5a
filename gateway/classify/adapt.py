"""Patient-adaptive classification: a small per-patient head on the CNN's output, fitted with numpy and scipy.

The CNN is trained on other patients, and what an ectopic beat looks like
(and how early it comes) differs between patients: a wide normal beat in
bundle branch block, atrial premature beats in a slow irregular rhythm.  A
few minutes of one patient's beats labelled by a clinician fix much of
that.  TensorFlow is not needed, so a Pi can do it: a regularised
multinomial logistic regression, per patient, over features the gateway
already has for every beat:

* the model's log-probabilities (floored at ``PROB_FLOOR``, the resolution
  of the int8 output, so float and int8 models give the same features);
* the beat's context features (RR timing, QRS shape and height against the
  patient's recent beats, :mod:`gateway.signal.context`), standardised on
  the patient's labelled beats;
* optionally ``morphology`` principal components of the beat's trace read
  back from its image (the middle of the inked rows of every other column), fitted on the labelled beats:
  the patient's own morphology space.

The head starts at the plain model (logits = log-probabilities, every
other weight 0) and its penalty pulls it back there, ``strength * ||W -
W0||^2`` over the weights and biases, so a class absent from the labelled
minutes keeps the plain model's evidence instead of being forgotten.  The
weights of absent classes, and of classes with fewer than ``min_beats``
labelled beats, are not fitted at all (they stay at the plain model's).  Fitted heads are saved per patient (:func:`save`) with the hash
of the model they were fitted on, and :func:`load` refuses any other model.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..signal.context import N_CONTEXT

#: ``format`` of a saved adaptation.
ADAPTATION_FORMAT = "ecg-edge-adaptation/1"
#: Probabilities below this are this (the int8 output's step is 1/256).
PROB_FLOOR = 1.0 / 256
#: Columns kept of a beat image's trace for the morphology features (every other one).
TRACE_STEP = 2


class AdaptationError(ValueError):
    """An adaptation that cannot be fitted or used with this model (and why)."""


@dataclass(frozen=True)
class Settings:
    """The head's hyper-parameters; the defaults are the setting chosen on the DS1 validation patients
    (reports/aami5-adaptive: 64 settings compared with the 5/25-minute protocol)."""

    strength: float = 0.003  # penalty per labelled beat on ||W - W0||^2 (weights and biases)
    balance: float = 0.0  # class weight ~ count ** -balance (0: every beat counts the same)
    context: bool = False  # use the context features
    morphology: int = 4  # principal components of the beat trace (0: none)
    min_beats: int = 1  # a class with fewer labelled beats keeps the plain model's row (a few beats overfit)

    def __post_init__(self) -> None:
        if not self.strength > 0:
            raise ValueError(f"strength: must be > 0, got {self.strength!r}")
        if not 0 <= self.balance <= 1:
            raise ValueError(f"balance: must be in 0..1, got {self.balance!r}")
        if isinstance(self.morphology, bool) or not isinstance(self.morphology, int) or self.morphology < 0:
            raise ValueError(f"morphology: must be a whole number >= 0, got {self.morphology!r}")
        if isinstance(self.min_beats, bool) or not isinstance(self.min_beats, int) or self.min_beats < 1:
            raise ValueError(f"min_beats: must be a whole number >= 1, got {self.min_beats!r}")


def traces(images: np.ndarray) -> np.ndarray:
    """The beat's line read back from its image: middle of the inked rows per kept column, 0 (bottom) .. 1 (top)."""
    ink = images[:, :, ::TRACE_STEP] < 128
    last = images.shape[1] - 1
    top = ink.argmax(axis=1)
    bottom = last - ink[:, ::-1, :].argmax(axis=1)
    middle = np.where(ink.any(axis=1), (top + bottom) / 2.0, last / 2.0)
    return (1.0 - middle / last).astype(np.float32)


@dataclass
class Head:
    """A fitted head: the feature transform and the linear map to adapted logits."""

    labels: tuple[str, ...]
    weights: np.ndarray  # (k, d): adapted logits = features @ weights.T + bias
    bias: np.ndarray  # (k,)
    context_mean: np.ndarray  # (N_CONTEXT,) or (0,) when the context is not used
    context_scale: np.ndarray
    pca_mean: np.ndarray  # (columns,) or (0,)
    pca_components: np.ndarray  # (m, columns) or (0, 0)
    info: dict = field(default_factory=dict)  # model it was fitted for, patient, source, counts, settings

    def features(self, probs: np.ndarray, images: np.ndarray, context: np.ndarray) -> np.ndarray:
        """The head's input for beats the plain model gave ``probs``."""
        parts = [np.log(np.maximum(probs.astype(np.float64), PROB_FLOOR))]
        if self.context_mean.size:
            parts.append((context - self.context_mean) / self.context_scale)
        if self.pca_components.size:
            parts.append((traces(images) - self.pca_mean) @ self.pca_components.T)
        return np.concatenate(parts, axis=1)

    def logits(self, probs: np.ndarray, images: np.ndarray, context: np.ndarray) -> np.ndarray:
        return self.features(probs, images, context) @ self.weights.T + self.bias

    def predict(self, probs: np.ndarray, images: np.ndarray, context: np.ndarray) -> np.ndarray:
        """Adapted class probabilities ``(n, k)``."""
        return softmax(self.logits(probs, images, context))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _plain_start(k: int, d: int) -> np.ndarray:
    """Weights and biases (k, d + 1) that give back the plain model's log-probabilities."""
    w = np.zeros((k, d + 1))
    w[:, :k] = np.eye(k)
    return w


def fit(probs: np.ndarray, images: np.ndarray, context: np.ndarray, labels: np.ndarray,
        classes: tuple[str, ...] | list[str], settings: Settings = Settings(), info: dict | None = None) -> Head:
    """Fit a head on one patient's labelled beats: the plain model's ``probs``, the images, context and true labels.

    ``labels`` are class indices into ``classes`` (the model's labels).
    """
    from scipy.optimize import minimize

    classes = tuple(classes)
    k = len(classes)
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.size
    if n == 0:
        raise AdaptationError("no labelled beats to adapt to")
    if probs.shape != (n, k) or images.shape[0] != n or context.shape != (n, N_CONTEXT):
        raise AdaptationError(f"{n} labels but probabilities {probs.shape}, images {images.shape}, "
                              f"context {context.shape}")
    if labels.min() < 0 or labels.max() >= k:
        raise AdaptationError(f"labels must be class indices 0..{k - 1}")
    context = context.astype(np.float64)
    c_mean = context.mean(axis=0) if settings.context else np.zeros(0)
    c_scale = np.maximum(context.std(axis=0), 0.05) if settings.context else np.zeros(0)
    p_mean, p_comp = np.zeros(0), np.zeros((0, 0))
    if settings.morphology:
        t = traces(images).astype(np.float64)
        p_mean = t.mean(axis=0)
        _, s, vt = np.linalg.svd(t - p_mean, full_matrices=False)
        m = min(settings.morphology, vt.shape[0])
        # scaled to unit variance over the labelled beats, so one penalty suits every feature
        p_comp = vt[:m] / np.maximum(s[:m, None] / np.sqrt(max(n - 1, 1)), 1e-6)
    head = Head(classes, np.zeros((k, 0)), np.zeros(k), c_mean, c_scale, p_mean, p_comp, dict(info or {}))
    x = np.concatenate([head.features(probs, images, context), np.ones((n, 1))], axis=1)
    d = x.shape[1] - 1
    start = _plain_start(k, d)
    counts = np.bincount(labels, minlength=k)
    fitted = counts >= settings.min_beats
    sample_w = (np.maximum(counts, 1).astype(np.float64) ** -settings.balance)[labels]
    sample_w *= n / sample_w.sum()
    onehot = np.eye(k)[labels]
    lam = settings.strength * n

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = start.copy()
        w[fitted] = flat.reshape(int(fitted.sum()), d + 1)
        z = x @ w.T
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        delta = w[fitted] - start[fitted]
        value = -float(sample_w @ (onehot * logp).sum(axis=1)) + lam * float((delta ** 2).sum())
        grad = ((np.exp(logp) - onehot) * sample_w[:, None]).T @ x
        return value, (grad[fitted] + 2 * lam * delta).ravel()

    w = start.copy()
    converged = True
    if fitted.any():
        result = minimize(loss, start[fitted].ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 500})
        w[fitted] = result.x.reshape(int(fitted.sum()), d + 1)
        converged = bool(result.success)
    head.weights, head.bias = w[:, :d], w[:, d]
    head.info.update({"settings": settings.__dict__, "counts": {c: int(v) for c, v in zip(classes, counts)},
                      "beats": int(n), "converged": converged})
    return head


def save(head: Head, path: str | Path) -> Path:
    """Write the head as ``.npz`` (numbers) with its ``info`` as JSON inside; atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise AdaptationError(f"{path}: an adaptation file ends in .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    meta = {"format": ADAPTATION_FORMAT, "labels": list(head.labels), **head.info}
    np.savez(tmp, weights=head.weights, bias=head.bias, context_mean=head.context_mean,
             context_scale=head.context_scale, pca_mean=head.pca_mean, pca_components=head.pca_components,
             meta=json.dumps(meta))
    tmp.replace(path)
    return path


_ARRAYS = ("weights", "bias", "context_mean", "context_scale", "pca_mean", "pca_components")


def load(path: str | Path, model_metadata: dict | None = None) -> Head:
    """Read a saved head; with ``model_metadata``, refuse it unless it was fitted for that very model."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [a for a in (*_ARRAYS, "meta") if a not in z.files]
            if missing:
                raise AdaptationError(f"{path}: not an adaptation file (no {missing[0]!r})")
            arrays = {a: z[a].astype(np.float64) for a in _ARRAYS}
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, AdaptationError):
            raise
        raise AdaptationError(f"{path}: cannot read the adaptation ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != ADAPTATION_FORMAT:
        meta = meta if isinstance(meta, dict) else {}
        raise AdaptationError(f"{path}: format {meta.get('format')!r}, this gateway reads {ADAPTATION_FORMAT!r}")
    labels = tuple(meta.pop("labels", ()))
    meta.pop("format")
    if not _consistent(arrays, len(labels)):
        raise AdaptationError(f"{path}: inconsistent or non-finite arrays; not a head written by ecg-adapt")
    head = Head(labels, info=meta, **arrays)
    if model_metadata is not None:
        check_model(head, model_metadata, str(path))
    return head


def _consistent(a: dict, k: int) -> bool:
    """Whether saved arrays make a head for ``k`` labels: shapes that fit together, finite numbers."""
    comps, c_mean = a["pca_components"], a["context_mean"]
    if a["weights"].ndim != 2 or comps.ndim != 2 or c_mean.shape not in ((0,), (N_CONTEXT,)):
        return False
    m = comps.shape[0]
    return (a["weights"].shape == (k, k + c_mean.size + m) and a["bias"].shape == (k,)
            and a["context_scale"].shape == c_mean.shape and a["pca_mean"].shape == ((comps.shape[1],) if m else (0,))
            and all(np.isfinite(v).all() for v in a.values()))


def check_model(head: Head, model_metadata: dict, source: str = "adaptation") -> None:
    """Raise :class:`AdaptationError` unless ``head`` was fitted on the model described by ``model_metadata``."""
    fitted = head.info.get("model_sha256")
    if fitted != model_metadata.get("sha256"):
        raise AdaptationError(f"{source}: fitted for model {head.info.get('model_version', '?')} "
                              f"(sha256 {str(fitted)[:16]}...) but the model here is "
                              f"{model_metadata.get('scheme')}-{str(model_metadata.get('sha256'))[:8]}; "
                              "fit it again with ecg-adapt for this model")
    if list(head.labels) != list(model_metadata.get("labels", [])):
        raise AdaptationError(f"{source}: labels {list(head.labels)} differ from the model's "
                              f"{model_metadata.get('labels')}")


class AdaptedClassifier:
    """A classifier with a patient's head on top: what the stream processor sees instead of the plain one.

    Same interface as :class:`gateway.classify.model.BeatClassifier` (labels,
    version, ``classify``); the version names the adaptation, so every beat
    and alert says which classifier decided it.
    """

    def __init__(self, base, head: Head):
        check_model(head, base.metadata, f"adaptation for {head.info.get('patient', '?')}")
        self.base = base
        self.head = head
        self.metadata = base.metadata
        self.labels = base.labels
        self.scheme = base.scheme
        self.backend = getattr(base, "backend", "?")
        self.version = f"{base.version}+{head.info.get('patient', 'patient')}-{head.info.get('id', '')[:8]}"

    def __repr__(self) -> str:
        return f"AdaptedClassifier({self.version})"

    def classify(self, images: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, probs = self.base.classify(images, context)
        adapted = self.head.predict(probs, images, context).astype(np.float32)
        return adapted.argmax(axis=1), adapted


def for_patient(base, directory: str | Path | None, patient: str):
    """``base`` with the head ``<directory>/<patient>.npz`` on top; ``base`` itself when there is no such file.

    A file that is there but unreadable, or fitted for another model, is an
    :class:`AdaptationError`: the caller decides whether to stop or to go on
    with the plain model and say so.
    """
    if directory is None:
        return base
    path = Path(directory) / f"{patient}.npz"
    if not path.is_file():
        return base
    return AdaptedClassifier(base, load(path, base.metadata))
