"""Does the int8 model the Pi runs classify like the float Keras model it came from?

``ecg-parity runs/<name> --model DIR/<name>.tflite [--out DIR]`` runs both
on the run's held-out beats (``heldout.npz``: images and context features):
the int8 model through
:func:`gateway.classify.model.load_model` (the gateway's own loading, quantization
and batching, i.e. exactly what the Pi runs), the float model through
Keras.  It prints and writes ``parity.json`` and ``parity.md``: top-1
agreement, accuracy and per-class sensitivity (Se) and positive
predictivity (+P) of both, the beats on which they disagree, and how many
held-out context feature values (:mod:`gateway.signal.context`) fall outside the
range the int8 context input can represent (they are clipped to it: the
calibration beats set that range).

Targets: agreement >= 99.5 %, and int8 accuracy at most 0.3 points below
the float model's.  The exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gateway.signal.context import CONTEXT_FEATURES
from gateway.classify.interpreters import TensorInfo
from gateway.classify.model import load_model
from training.batches import to_model_input

from .convert import RunError, load_keras, load_run

#: Minimum top-1 agreement between the int8 and float models, in percent.
TARGET_AGREEMENT = 99.5
#: Maximum accuracy the int8 model may lose against the float one, in percentage points.
TARGET_ACCURACY_DROP = 0.3
#: Float top-1 minus top-2 probability thresholds at which disagreements are counted as near-ties.
MARGINS = (0.05, 0.1, 0.2)
#: Beats per Keras predict call (bounds the float32 copy of the images in memory).
_KERAS_BATCH = 512


def per_class(labels: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, dict]:
    """Per-class support, Se (recall) and +P (precision) in percent; ``None`` where undefined."""
    out = {}
    for i, name in enumerate(names):
        tp = int(np.sum((pred == i) & (labels == i)))
        n_true, n_pred = int(np.sum(labels == i)), int(np.sum(pred == i))
        out[name] = {"n": n_true,
                     "se": 100.0 * tp / n_true if n_true else None,
                     "ppv": 100.0 * tp / n_pred if n_pred else None}
    return out


def compare(labels: np.ndarray, pred_float: np.ndarray, pred_int8: np.ndarray, names: list[str]) -> dict:
    """All parity figures for one held-out set, with the verdict on each target."""
    agreement = 100.0 * float(np.mean(pred_float == pred_int8))
    acc_float = 100.0 * float(np.mean(pred_float == labels))
    acc_int8 = 100.0 * float(np.mean(pred_int8 == labels))
    pairs: dict[str, int] = {}
    for f, q in zip(pred_float[pred_float != pred_int8], pred_int8[pred_float != pred_int8]):
        key = f"{names[f]} -> {names[q]}"
        pairs[key] = pairs.get(key, 0) + 1
    return {
        "n_beats": int(labels.size),
        "agreement": agreement,
        "disagreements": dict(sorted(pairs.items(), key=lambda kv: -kv[1])),
        "float": {"accuracy": acc_float, "per_class": per_class(labels, pred_float, names)},
        "int8": {"accuracy": acc_int8, "per_class": per_class(labels, pred_int8, names)},
        "accuracy_drop": acc_float - acc_int8,
        "targets": {
            "agreement_min": TARGET_AGREEMENT,
            "accuracy_drop_max": TARGET_ACCURACY_DROP,
            "agreement_met": agreement >= TARGET_AGREEMENT,
            "accuracy_met": acc_float - acc_int8 <= TARGET_ACCURACY_DROP,
        },
    }


def closeness(p_float: np.ndarray, p_int8: np.ndarray) -> dict:
    """How far the int8 probabilities stray, and whether disagreements are the float model's near-ties.

    ``margin`` is the float model's top-1 minus top-2 probability: a
    disagreement on a beat with a small margin is a coin the float model
    nearly tossed the other way too.
    """
    err = np.abs(p_float - p_int8).max(axis=1)
    top2 = np.sort(p_float, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    disagree = p_float.argmax(axis=1) != p_int8.argmax(axis=1)
    return {"max_abs_prob_diff_median": float(np.median(err)),
            "max_abs_prob_diff_p99": float(np.percentile(err, 99)),
            "disagreements_with_float_margin_below": {
                str(t): 100.0 * float(np.mean(margin[disagree] < t)) if disagree.any() else None
                for t in MARGINS}}


def context_outside_range(context: np.ndarray, inp: TensorInfo) -> dict:
    """The range of feature values an integer context input represents, and the percent of ``context`` outside it.

    ``None`` percentages for a float input (nothing is clipped).
    """
    if inp.dtype.kind == "f":
        return {"range": None, "percent_outside": None}
    info = np.iinfo(inp.dtype)
    lo, hi = (info.min - inp.zero_point) * inp.scale, (info.max - inp.zero_point) * inp.scale
    outside = (context < lo - inp.scale / 2) | (context > hi + inp.scale / 2)
    return {"range": [lo, hi], "scale": inp.scale, "zero_point": inp.zero_point,
            "percent_outside": {name: 100.0 * float(np.mean(outside[:, k]))
                                for k, name in enumerate(CONTEXT_FEATURES)}}


def run_parity(run_dir: str | Path, model_path: str | Path) -> dict:
    """Classify the run's held-out beats with both models and compare them."""
    run = load_run(run_dir)
    heldout = run.beats("heldout")
    images, context, labels = heldout.images, heldout.context, heldout.labels
    if labels is None:
        raise RunError(f"{run.path / 'heldout.npz'}: no 'labels' array")
    names = list(run.meta["labels"])
    if labels.min() < 0 or labels.max() >= len(names):
        raise RunError(f"{run.path / 'heldout.npz'}: labels must be indices 0..{len(names) - 1}")
    classifier = load_model(model_path)
    if list(classifier.labels) != names:
        raise RunError(f"{model_path}: labels {list(classifier.labels)} differ from the run's {names}")
    pred_int8, p_int8 = classifier.classify(images, context)
    keras_model = load_keras(run)
    p_float = np.concatenate([
        keras_model.predict(to_model_input(images[i:i + _KERAS_BATCH], context[i:i + _KERAS_BATCH]), verbose=0)
        for i in range(0, len(images), _KERAS_BATCH)])
    result = compare(labels.astype(np.int64), p_float.argmax(axis=1), pred_int8, names)
    return {"run": str(run.path), "split": run.meta.get("split"), "model": str(model_path),
            "model_version": classifier.version, "backend": classifier.backend, **result,
            "closeness": closeness(p_float, p_int8),
            "context_input": context_outside_range(context, classifier.context_input)}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def to_markdown(r: dict) -> str:
    """The parity report as Markdown (what ``parity.md`` holds and the command prints)."""
    t = r["targets"]
    lines = [
        f"# int8 vs float parity: {Path(r['run']).name}",
        "",
        f"Model `{r['model']}` ({r['model_version']}, run through gateway.classify.model with {r['backend']}) against the "
        f"float Keras model of run `{r['run']}` (split: {r['split']}), on its {r['n_beats']} held-out beats.",
        "",
        f"- Top-1 agreement: **{r['agreement']:.2f} %** (target >= {t['agreement_min']} %: {_verdict(t['agreement_met'])})",
        f"- Accuracy: float {r['float']['accuracy']:.2f} %, int8 {r['int8']['accuracy']:.2f} % "
        f"(drop {r['accuracy_drop']:+.2f} points; target <= {t['accuracy_drop_max']}: {_verdict(t['accuracy_met'])})",
        "",
        "| class | n | Se float | Se int8 | +P float | +P int8 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, f in r["float"]["per_class"].items():
        q = r["int8"]["per_class"][name]
        lines.append(f"| {name} | {f['n']} | {_pct(f['se'])} | {_pct(q['se'])} | {_pct(f['ppv'])} | {_pct(q['ppv'])} |")
    c = r["closeness"]
    near_ties = ", ".join(f"{_pct(v)} % below {t}" for t, v in c["disagreements_with_float_margin_below"].items())
    lines += ["", "Disagreements (float -> int8): "
              + (", ".join(f"{k}: {v}" for k, v in r["disagreements"].items()) or "none"), "",
              f"Largest per-beat probability difference: median {c['max_abs_prob_diff_median']:.4f}, "
              f"99th percentile {c['max_abs_prob_diff_p99']:.4f} (int8 output step 1/256 = 0.0039). "
              f"Float model's top-1 minus top-2 margin on the disagreeing beats: {near_ties}.", ""]
    q = r["context_input"]
    if q["range"] is not None:
        outside = ", ".join(f"{name} {pct:.2f} %" for name, pct in q["percent_outside"].items())
        lines += [f"Context input: int8 scale {q['scale']:.5f}, zero point {q['zero_point']}, represents "
                  f"{q['range'][0]:+.3f} .. {q['range'][1]:+.3f}; held-out values outside (clipped): {outside}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="training run directory (model.keras, meta.json, heldout.npz)")
    parser.add_argument("--model", type=Path, required=True, help="the converted .tflite (its .json beside it)")
    parser.add_argument("--out", type=Path, help="directory for parity.json and parity.md (default: the run directory)")
    args = parser.parse_args(argv)
    try:
        result = run_parity(args.run, args.model)
    except (ValueError, OSError) as e:
        print(f"ecg-parity: {e}", file=sys.stderr)
        return 2
    out = args.out or args.run
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(json.dumps(result, indent=2) + "\n")
    report = to_markdown(result)
    (out / "parity.md").write_text(report)
    print(report)
    print(f"wrote {out / 'parity.json'} and {out / 'parity.md'}")
    return 0 if result["targets"]["agreement_met"] and result["targets"]["accuracy_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
