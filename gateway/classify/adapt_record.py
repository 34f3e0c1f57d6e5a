"""Fitting a patient's head from a WFDB record and its beat annotations (``ecg-adapt``, the web console).

The record goes through the gateway's own chain, offline, exactly as
training cuts beats (:func:`gateway.signal.chain.condition`, the R-peak
detector, the context features over every detection, the beat windows and
images), so the head sees the features the live pipeline will give it.
Each detection is paired with the nearest reference beat within 150 ms
(the EC57 match window, :func:`gateway.signal.matching.match_beats`, as training pairs them); annotation symbols become the model's classes by
the model's own ``label_members`` (aami5: N = N L R e j, ...), and symbols
outside the scheme are counted and left out.  Only reference beats inside
the labelled span ``[start_s, stop_s)`` are used.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SignalError
from ..signal.chain import beat_windows, condition
from ..signal.context import context_features
from ..signal.leads import read_record
from ..signal.matching import MATCH_WINDOW_S, REFERENCE_BEATS, match_beats
from ..signal.raster import render_beats
from ..signal.rpeaks import detect_rpeaks
from ..signal.spec import MODEL_FS
from .adapt import AdaptationError, Head, Settings, fit, save

#: Fewer labelled beats than this cannot tell a patient's classes apart.
MIN_BEATS = 30


@dataclass(frozen=True)
class LabelledBeats:
    """A span of one record's beats, cut by the gateway chain, with the clinician's classes."""

    record: str
    images: np.ndarray  # uint8 (n, 128, 128)
    context: np.ndarray  # float32 (n, N_CONTEXT)
    labels: np.ndarray  # int64 (n,), indices into the model's labels
    peaks: np.ndarray  # int64 (n,), detected R peak at MODEL_FS
    left_out: dict  # annotation symbol -> beats in the span whose symbol the model's scheme has no class for
    unmatched: int  # reference beats in the span no detection was paired with


def symbol_classes(model_metadata: dict) -> dict[str, int]:
    """Annotation symbol -> index of the model's class, from the metadata's ``label_members``."""
    labels = list(model_metadata["labels"])
    members = (model_metadata.get("training") or {}).get("label_members") or {c: [c] for c in labels}
    return {s: labels.index(c) for c, symbols in members.items() if c in labels for s in symbols}


def labelled_beats(path: str | Path, model_metadata: dict, annotator: str = "atr", start_s: float = 0.0,
                   stop_s: float | None = 300.0, lead: str | int | None = None) -> LabelledBeats:
    """The beats of record ``path`` annotated in ``[start_s, stop_s)`` (None: to the end), with their classes."""
    import wfdb

    path = Path(path)
    if start_s < 0 or (stop_s is not None and stop_s <= start_s):
        raise AdaptationError(f"the labelled span must have 0 <= start < stop, got {start_s}..{stop_s} s")
    rec = read_record(path, lead=lead)
    if not np.isfinite(rec.signal).all():
        raise SignalError(f"{path}: the record has invalid samples; cut a clean stretch to adapt on")
    try:
        ann = wfdb.rdann(str(path), annotator)
    except FileNotFoundError:
        raise AdaptationError(f"{path}.{annotator}: no annotation file") from None
    y = condition(rec.signal, rec.fs)
    detections = np.asarray(detect_rpeaks(y, fs=MODEL_FS), dtype=np.int64)
    context = context_features(y, detections)
    windows, full = beat_windows(y, detections)
    table = symbol_classes(model_metadata)
    symbols = np.asarray(ann.symbol, dtype=str)
    ref = np.round(np.asarray(ann.sample, dtype=np.float64) * MODEL_FS / rec.fs).astype(np.int64)
    stop = np.inf if stop_s is None else stop_s * MODEL_FS
    beat_like = np.isin(symbols, sorted(set(table) | REFERENCE_BEATS))
    span = beat_like & (ref >= start_s * MODEL_FS) & (ref < stop)
    left_out = Counter(s for s in symbols[span] if s not in table)
    use = span & np.isin(symbols, sorted(table))
    matching = match_beats(detections, ref[use], round(MATCH_WINDOW_S * MODEL_FS))
    hit = matching.ref_of_detection >= 0
    paired = np.full(int(use.sum()), -1, dtype=np.int64)  # the detection of each reference beat, -1: none
    paired[matching.ref_of_detection[hit]] = np.flatnonzero(hit)
    ok = paired >= 0
    det = paired[ok]
    ok_full = full[det]
    det = det[ok_full]
    window_of = np.cumsum(full) - 1  # detection index -> row of windows
    labels = np.array([table[s] for s in symbols[use][ok][ok_full]], dtype=np.int64)
    return LabelledBeats(path.name, render_beats(windows[window_of[det]]), context[det].astype(np.float32),
                         labels, detections[det], dict(left_out), int((~ok).sum()))


def fit_from_record(path: str | Path, classifier, out: str | Path, *, annotator: str = "atr",
                    start_s: float = 0.0, stop_s: float | None = 300.0, lead: str | int | None = None,
                    patient: str | None = None, settings: Settings = Settings(),
                    created_utc: str | None = None) -> tuple[Path, Head]:
    """Fit ``classifier``'s head on a record's labelled span and save it to ``out``; returns (path, head).

    The API the web console calls; ``patient`` defaults to the record name,
    ``created_utc`` (the caller's clock: the core reads none) is stored as given.
    The head's ``id`` is a hash of its numbers and the model's, so the same
    fit gives the same id.
    """
    beats = labelled_beats(path, classifier.metadata, annotator, start_s, stop_s, lead)
    if beats.labels.size < MIN_BEATS:
        raise AdaptationError(f"{path}: only {beats.labels.size} labelled beats in {start_s}..{stop_s} s; "
                              f"at least {MIN_BEATS} are needed")
    _, probs = classifier.classify(beats.images, beats.context)
    sha = classifier.metadata["sha256"]
    info = {"patient": patient or beats.record, "model_sha256": sha,
            "model_version": classifier.version,
            "source": {"record": str(path), "annotator": annotator, "start_s": start_s, "stop_s": stop_s,
                       "left_out_symbols": beats.left_out, "unmatched_reference_beats": beats.unmatched},
            "created_utc": created_utc}
    head = fit(probs, beats.images, beats.context, beats.labels, classifier.labels, settings, info)
    digest = hashlib.sha256(sha.encode())
    for array in (head.weights, head.bias, head.context_mean, head.context_scale, head.pca_mean, head.pca_components):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    head.info["id"] = digest.hexdigest()[:16]
    return save(head, out), head
