"""Patient-adaptive evaluation: the plain inter-patient model against the same model with a per-patient head.

    python -m training.adaptive runs/aami5-inter --tflite runs/aami5-inter/int8/aami5.tflite \\
        --out reports/aami5-adaptive --notes reports/notes/aami5-adaptive.md

Protocol (de Chazal & Reilly 2006): the first ``ADAPT_S`` seconds (5 min)
of each record are labelled for adaptation; every figure is over the beats
of the remaining 25 minutes, plain and adapted side by side, on exactly
the same beats.  The head is :mod:`gateway.classify.adapt`, fitted per
record on that record's first 5 minutes, the very code ``ecg-adapt`` and
the gateway run.

Every setting of the head (penalty strength, class balance, which
features) is chosen on the DS1 validation patients
(:data:`training.splits.INTER_VALIDATION`, the patients that stopped the
CNN's training early) with the same 5/25-minute protocol, by the mean of
the EC57 gross VEB and SVEB F1; DS2 is then evaluated once with the chosen
setting.  Beats are the cached, detected and matched beats of the
training pipeline (:mod:`training.dataset`), so the plain figures are those
of ``ecg-evaluate`` restricted to the last 25 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.classify.adapt import Settings, fit
from gateway.signal.spec import MODEL_FS

from .dataset import DATA_ROOT, DEFAULT_CACHE, load_records
from .labels import get_scheme
from .metrics import figures
from .splits import DS2, INTER_VALIDATION

#: Seconds at the start of each record labelled for adaptation.
ADAPT_S = 300.0
#: The settings compared on the validation patients.
GRID = {"strength": (0.003, 0.01, 0.03, 0.1), "balance": (0.0, 0.5), "context": (False, True),
        "morphology": (0, 4), "min_beats": (1, 10)}


@dataclass
class Beats:
    """Beats of some records with the plain model's probabilities, and which are labelled for adaptation."""

    records: np.ndarray
    peaks: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    context: np.ndarray
    probs: dict  # backend ("float", "int8") -> (n, k) probabilities

    @property
    def adapt(self) -> np.ndarray:
        return self.peaks < ADAPT_S * MODEL_FS

    def take(self, mask: np.ndarray) -> Beats:
        return Beats(self.records[mask], self.peaks[mask], self.labels[mask], self.images[mask],
                     self.context[mask], {k: v[mask] for k, v in self.probs.items()})


def load_beats(records: list[str], scheme_name: str, data_root: Path, cache: Path) -> Beats:
    """The labelled beats of ``records`` (the cached training beats), without probabilities yet."""
    from .batches import render
    from .train import pool

    data = pool(load_records(data_root, records, cache, progress=False))
    labels = get_scheme(scheme_name).encode(data.symbols)
    keep = labels >= 0
    return Beats(data.records[keep], data.peaks[keep], labels[keep], render(data.windows[keep]),
                 data.context[keep], {})


def add_probabilities(beats: Beats, keras_model, tflite_classifier) -> None:
    """The plain model's probabilities: the float Keras model and, if given, the int8 model the Pi runs."""
    from .train import predict

    beats.probs["float"] = predict(keras_model, beats.images, beats.context).astype(np.float32)
    if tflite_classifier is not None:
        beats.probs["int8"] = tflite_classifier.classify(beats.images, beats.context)[1]


def adapted_predictions(beats: Beats, backend: str, classes: tuple[str, ...], settings: Settings,
                        fit_seconds: list | None = None) -> tuple:
    """(test mask, plain predictions, adapted predictions) with one head per record fitted on its first minutes.

    ``fit_seconds``, if given, gets the time of each fit appended.
    """
    test = ~beats.adapt
    plain = beats.probs[backend].argmax(axis=1)
    adapted = plain.copy()
    for record in sorted(set(beats.records.tolist())):
        mine = beats.records == record
        fit_on, apply_to = mine & beats.adapt, mine & test
        if not fit_on.any() or not apply_to.any():
            continue
        started = time.perf_counter()
        head = fit(beats.probs[backend][fit_on], beats.images[fit_on], beats.context[fit_on],
                   beats.labels[fit_on], classes, settings)
        if fit_seconds is not None:
            fit_seconds.append(time.perf_counter() - started)
        adapted[apply_to] = head.predict(beats.probs[backend][apply_to], beats.images[apply_to],
                                         beats.context[apply_to]).argmax(axis=1)
    return test, plain, adapted


def score(fig: dict) -> float:
    """The validation criterion: mean of the EC57 gross VEB and SVEB F1 (0 where undefined)."""
    return float(np.mean([fig["ec57"][k]["f1"] or 0.0 for k in ("VEB", "SVEB")]))


def compact(fig: dict) -> dict:
    """The figures a table row needs."""
    ec = fig["ec57"]
    return {"n": fig["n"], "accuracy": fig["accuracy"],
            **{f"{k.lower()}_{s}": ec[k][s] for k in ("VEB", "SVEB") for s in ("se", "ppv", "f1", "tp", "fn", "fp")}}


def search(beats: Beats, classes: tuple[str, ...], backend: str = "float") -> list[dict]:
    """Every setting of :data:`GRID` on the validation beats, best first."""
    rows = []
    for values in itertools.product(*GRID.values()):
        settings = Settings(**dict(zip(GRID, values)))
        test, _, adapted = adapted_predictions(beats, backend, classes, settings)
        fig = figures(beats.labels[test], adapted[test], classes)
        rows.append({"settings": settings.__dict__, "score": score(fig), **compact(fig)})
        print(f"validation {settings}: VEB Se {fig['ec57']['VEB']['se']} +P {fig['ec57']['VEB']['ppv']}, "
              f"SVEB Se {fig['ec57']['SVEB']['se']} +P {fig['ec57']['SVEB']['ppv']}", flush=True)
    return sorted(rows, key=lambda r: -r["score"])


def side_by_side(beats: Beats, classes: tuple[str, ...], settings: Settings) -> dict:
    """Plain and adapted figures of every backend, pooled and per record, on the last 25 minutes."""
    out: dict = {}
    for backend in beats.probs:
        seconds: list[float] = []
        test, plain, adapted = adapted_predictions(beats, backend, classes, settings, seconds)
        fp, fa = figures(beats.labels[test], plain[test], classes), figures(beats.labels[test], adapted[test], classes)
        per_record = {}
        for record in sorted(set(beats.records.tolist())):
            m = test & (beats.records == record)
            counts = np.bincount(beats.labels[beats.adapt & (beats.records == record)], minlength=len(classes))
            per_record[record] = {"adapt_counts": {c: int(v) for c, v in zip(classes, counts)},
                                  "plain": compact(figures(beats.labels[m], plain[m], classes)),
                                  "adapted": compact(figures(beats.labels[m], adapted[m], classes))}
        out[backend] = {"plain": fp, "adapted": fa, "per_record": per_record,
                        "fit_seconds": {"median": float(np.median(seconds)), "max": float(np.max(seconds))}}
    return out


def evaluate(run: Path, tflite: Path | None, out: Path, data_root: Path, cache: Path,
             notes: Path | None = None) -> dict:
    """Choose the head's setting on the validation patients, evaluate DS2 once, write the report."""
    import keras

    from gateway.classify.model import load_model

    from .adaptive_report import write_report

    meta = json.loads((run / "meta.json").read_text())
    if meta["split"] != "inter":
        raise ValueError(f"{run}: the adaptive protocol needs an inter-patient run (DS2 unseen), got "
                         f"split {meta['split']!r}")
    classes = tuple(meta["labels"])
    model = keras.models.load_model(run / "model.keras")
    classifier = load_model(tflite) if tflite else None
    if classifier is not None and list(classifier.labels) != list(classes):
        raise ValueError(f"{tflite}: labels {classifier.labels} differ from the run's {classes}")
    start = time.monotonic()
    val = load_beats(sorted(INTER_VALIDATION), meta["scheme"], data_root, cache)
    add_probabilities(val, model, classifier)
    grid = search(val, classes)
    chosen = Settings(**grid[0]["settings"])
    print(f"chosen on validation: {chosen}", flush=True)
    validation = side_by_side(val, classes, chosen)
    test = load_beats(sorted(DS2), meta["scheme"], data_root, cache)
    add_probabilities(test, model, classifier)
    results = side_by_side(test, classes, chosen)
    report = {"run": run.name, "scheme": meta["scheme"], "split": "inter", "protocol": "adaptive",
              "adapt_seconds": ADAPT_S, "validation_records": sorted(INTER_VALIDATION), "test_records": sorted(DS2),
              "grid": grid, "chosen": chosen.__dict__, "validation": validation, "test": results,
              "model_sha256": classifier.metadata["sha256"] if classifier else None,
              "seconds": round(time.monotonic() - start, 1)}
    write_report(report, out, notes.read_text() if notes else None)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Patient-adaptive evaluation: plain vs per-patient head on DS2.")
    parser.add_argument("run", type=Path, help="an inter-patient run directory written by ecg-train")
    parser.add_argument("--tflite", type=Path, help="the run converted by ecg-convert, for the int8 figures")
    parser.add_argument("--out", type=Path, default=Path("reports/aami5-adaptive"))
    parser.add_argument("--notes", type=Path, help="Markdown appended to the report")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    except RuntimeError:
        print(f"TensorFlow is already initialised; --threads {args.threads} not applied", file=sys.stderr)
    report = evaluate(args.run, args.tflite, args.out, args.data_root, args.cache, args.notes)
    for backend, r in report["test"].items():
        for kind in ("plain", "adapted"):
            ec = r[kind]["ec57"]
            print(f"DS2 last 25 min, {backend} {kind}: VEB Se {ec['VEB']['se']:.4f} +P {ec['VEB']['ppv']:.4f}, "
                  f"SVEB Se {ec['SVEB']['se']:.4f} +P {ec['SVEB']['ppv']:.4f}")


if __name__ == "__main__":
    main()
