"""Evaluation report of a training run: figures beside the published anchors on the same protocol.

    ecg-evaluate runs/aami5-inter --out reports/aami5-inter [--notes reports/notes/aami5-inter.md]

Reads ``model.keras``, ``meta.json`` and ``heldout.npz`` from the run and
writes ``report.md``, ``report.json``, ``confusion.png`` and
``misclassified.png`` (a gallery of wrongly classified beats, with true
and predicted labels) into ``--out``.  Figures: accuracy, per-class
sensitivity (Se), positive predictivity (+P), specificity (Sp) and F1,
macro-F1, and for the AAMI scheme the EC57 gross VEB and SVEB statistics.
Beats the detector missed or invented are not in those figures; the report
counts them separately.  ``--notes`` appends a hand-written Markdown file
(what was tried, why a target was missed) to the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from .dataset import DATA_ROOT, DEFAULT_CACHE, load_records, parse_record_id, summarize
from .metrics import figures
from .noise import EVAL_CHANNEL, EVAL_SNR_DB, NOISE_KINDS, evaluation_noise
from .splits import DS1, DS2, PACED, SVDB_TEST, SVDB_VALIDATION

#: Published figures, keyed by (scheme, split): the protocol they were measured on.
ANCHORS = {
    ("seed8", "intra"): [
        {"source": "Seed thesis (8 classes, random beat split)", "accuracy": 0.93},
        {"source": "Jun et al. 2018, 2-D CNN on beat images (8 classes, intra-patient)", "accuracy": 0.9905},
    ],
    ("aami5", "inter"): [
        {"source": "de Chazal et al. 2004", "veb_se": 0.777, "veb_ppv": 0.819, "sveb_se": 0.759, "sveb_ppv": 0.385},
        {"source": "Mondejar-Guerra et al. 2019", "accuracy": 0.945},
        {"source": "Niu et al. 2020", "accuracy": 0.964, "sveb_f1": 0.766, "veb_f1": 0.897},
        {"source": "Farag 2023", "sveb_se": 0.853, "veb_se": 0.963},
    ],
}
#: Project targets for the float model, keyed like ANCHORS.
TARGETS = {
    ("seed8", "intra"): {"accuracy": 0.993, "macro_f1": 0.97},
    ("aami5", "inter"): {"veb_se": 0.95, "veb_ppv": 0.95, "sveb_se": 0.85, "sveb_ppv": 0.70},
}
PROTOCOLS = {
    "intra": ("intra-patient: a random, class-stratified beat split over all 48 records, 70 % train / "
              "20 % test / 10 % validation. Beats of the same patient are on both sides, so figures are "
              "optimistic and say little about an unseen patient."),
    "inter": ("inter-patient (AAMI / de Chazal 2004): train on DS1 (" + " ".join(DS1) + ") minus the "
              "validation patients, test on DS2 (" + " ".join(DS2) + "); paced records " + " ".join(PACED)
              + " left out. No test patient is seen in training or model selection."),
    "all": ("shipping split: trained on every record except a few validation patients, which are the "
            "held-out set here (used for early stopping, so mildly optimistic; there is no test set)."),
}
#: Added to the protocol when svdb's patients are in the split.
SVDB_PROTOCOL = ("svdb (MIT-BIH Supraventricular Arrhythmia Database, 128 Hz, lead ECG1) joins by a rule fixed "
                 "by record number before training: validation " + " ".join(r[5:] for r in SVDB_VALIDATION)
                 + "; held-out test group " + " ".join(r[5:] for r in SVDB_TEST)
                 + " (under inter reported beside DS2, under all trained on); the other svdb records train. "
                 "Headline figures are over the MIT-BIH held-out patients.")
#: Under this name the report gives the figures of each database's held-out patients.
GROUP_NAMES = {"mitdb": "MIT-BIH", "svdb": "svdb"}


def flat_figures(fig: dict) -> dict[str, float | None]:
    """The headline figures under the short names the anchors and targets use."""
    out = {"accuracy": fig["accuracy"], "macro_f1": fig["macro_f1"]}
    for name, key in (("VEB", "veb"), ("SVEB", "sveb")):
        if "ec57" in fig:
            for stat in ("se", "ppv", "fpr", "f1"):
                out[f"{key}_{stat}"] = fig["ec57"][name][stat]
    return out


def target_check(flat: dict, targets: dict[str, float]) -> list[dict]:
    """Each target with the measured value, whether it is met, and the shortfall in points."""
    rows = []
    for key, goal in targets.items():
        value = flat.get(key)
        met = value is not None and value >= goal
        rows.append({"figure": key, "target": goal, "measured": value, "met": met,
                     "short_by_points": None if met or value is None else round(100 * (goal - value), 2)})
    return rows


def _pct(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}"


def plot_confusion(cm: np.ndarray, classes: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with counts, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    size = 1.0 + 0.55 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def gallery_indices(true: np.ndarray, pred: np.ndarray, limit: int) -> np.ndarray:
    """Up to ``limit`` misclassified beats, spread over the (true, predicted) pairs, most frequent first."""
    wrong = np.flatnonzero(true != pred)
    if wrong.size == 0:
        return wrong
    pairs, inverse, counts = np.unique(np.stack([true[wrong], pred[wrong]], 1), axis=0,
                                       return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    queues = [list(wrong[inverse == k]) for k in np.argsort(-counts, kind="stable")]
    picked: list[int] = []
    while len(picked) < limit and any(queues):
        for q in queues:
            if q and len(picked) < limit:
                picked.append(q.pop(0))
    return np.asarray(picked)


def plot_gallery(images: np.ndarray, titles: list[str], path: Path, columns: int = 6) -> None:
    """A grid of beat images with a caption each, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(images), 1)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.75 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=6)
    if len(images) == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified beats", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def detection_lines(stats: dict, split: str) -> list[str]:
    """Report lines on beats that never reached the classifier."""
    t = stats["totals"]
    scope = ("all records (the test beats are a random 20 % of their matched beats)" if split == "intra"
             else f"the {stats['records']} held-out records")
    missed = ", ".join(f"{k} {v}" for k, v in sorted(stats["missed_by_symbol"].items())) or "none"
    left = ", ".join(f"{k} {v}" for k, v in sorted(stats["left_out_by_symbol"].items())) or "none"
    return [
        f"Over {scope}: {t['reference_beats']} reference beats, {t['detections']} detections.",
        f"- Detected but matching no reference beat within 150 ms (false detections, not evaluated): "
        f"**{t['unmatched_detections']}**",
        f"- Reference beats no detection matched (missed, not evaluated): **{t['missed_reference']}** "
        f"(by symbol: {missed})",
        f"- Detections inside stretches annotated noisy for the chosen lead (skipped): "
        f"{t['detections_in_noise']}; reference beats there: {t['reference_in_noise']}",
        f"- Matched beats too close to a record end for a full window: {t['edge_dropped']}",
        f"- Matched beats whose label the scheme leaves out: {left}",
    ]


def validation_lines(val: dict | None, split: str) -> list[str]:
    """One line on the validation figures that chose the epoch and tau (the held-out set itself for 'all')."""
    if not val or split == "all":
        return []
    ec = "".join(f", {k} Se {_pct(v['se'])} % +P {_pct(v['ppv'])} %" for k, v in val.get("ec57", {}).items())
    return [f"- Validation set (model selection only): accuracy {_pct(val['accuracy'])} %, "
            f"macro-F1 {_pct(val['macro_f1'])} %{ec}."]


def noise_figures(model, meta: dict, data_root: Path, cache: Path) -> dict:
    """V and S figures of the MIT-BIH held-out patients with nstdb noise of the evaluation channel added.

    Each record gets each noise kind at each of :data:`EVAL_SNR_DB`, added
    to the raw signal before the chain (training.noise), from channel
    :data:`~training.noise.EVAL_CHANNEL`, which training never draws from.
    """
    from .batches import render
    from .labels import get_scheme
    from .train import pool, predict

    scheme = get_scheme(meta["scheme"])
    records = [r for r in meta["records"][meta["heldout"]] if parse_record_id(r)[0] == "mitdb"]
    out: dict = {"channel": EVAL_CHANNEL, "records": records, "figures": {}}
    for kind in NOISE_KINDS:
        for snr in EVAL_SNR_DB:
            beats = load_records(data_root, records, cache, progress=False,
                                 noise=[evaluation_noise(r, kind, snr) for r in records])
            data = pool(beats)
            labels = scheme.encode(data.symbols)
            keep = labels >= 0
            pred = predict(model, render(data.windows[keep]), data.context[keep]).argmax(axis=1)
            fig = figures(labels[keep], pred, scheme.classes)
            out["figures"][f"{kind} {snr:g}"] = {"kind": kind, "snr_db": snr, "n": fig["n"],
                                                 "accuracy": fig["accuracy"], "ec57": fig.get("ec57"),
                                                 "detection": summarize(beats, scheme.name)["totals"]}
            print(f"noise {kind} {snr:g} dB: " + ", ".join(f"{k} Se {_pct(v['se'])} +P {_pct(v['ppv'])}"
                                                         for k, v in fig.get("ec57", {}).items()), flush=True)
    return out


def write_report(run: Path, out: Path, notes: Path | None = None, gallery: int = 24,
                 noise_root: Path | None = None, cache: Path = DEFAULT_CACHE) -> dict:
    """Evaluate the run's held-out beats and write the report files; returns report.json's content.

    Headline figures are over the MIT-BIH held-out patients (comparable with
    the published ones); every database's held-out patients also get figures
    of their own.  With ``noise_root`` (the data root), the MIT-BIH held-out
    records are evaluated again in noise (:func:`noise_figures`).
    """
    import keras

    from .latency import estimate
    from .train import predict

    meta = json.loads((run / "meta.json").read_text())
    with np.load(run / "heldout.npz", allow_pickle=False) as z:
        images, context, true = z["images"], z["context"], z["labels"].astype(np.int64)
        records, peaks = z["records"], z["peaks"]
    model = keras.models.load_model(run / "model.keras")
    classes = meta["labels"]
    proba_all = predict(model, images, context)
    database = np.array([parse_record_id(r)[0] for r in records.tolist()])
    groups = {GROUP_NAMES.get(db, db): figures(true[database == db], proba_all[database == db].argmax(axis=1),
                                               classes) for db in sorted(set(database.tolist()))}
    headline = database == "mitdb" if "mitdb" in database else np.ones(len(true), bool)
    images, context, true, records, peaks = (images[headline], context[headline], true[headline],
                                             records[headline], peaks[headline])
    proba = proba_all[headline]
    pred = proba.argmax(axis=1)
    fig = figures(true, pred, classes)
    flat = flat_figures(fig)
    key = (meta["scheme"], meta["split"])
    targets = target_check(flat, TARGETS.get(key, {}))
    latency = estimate(model, meta["model"]["macs"])

    out.mkdir(parents=True, exist_ok=True)
    name = run.name
    plot_confusion(np.asarray(fig["confusion"]), classes, f"{name}: {meta['heldout']} beats", out / "confusion.png")
    picks = gallery_indices(true, pred, gallery)
    plot_gallery(images[picks], [f"{records[i]} @{peaks[i] / meta['sample_rate']:.1f}s\n"
                                 f"true {classes[true[i]]} -> {classes[pred[i]]} ({proba[i, pred[i]]:.2f})"
                                 for i in picks], out / "misclassified.png")

    databases = meta.get("databases", ["mitdb"])
    protocol = PROTOCOLS[meta["split"]] + (" " + SVDB_PROTOCOL if "svdb" in databases else "")
    report = {"run": name, "scheme": meta["scheme"], "split": meta["split"], "heldout": meta["heldout"],
              "protocol": protocol, "databases": databases, "records": meta["records"],
              "label_members": meta["label_members"],
              "figures": fig, "headline": flat, "anchors": ANCHORS.get(key, []), "targets": targets,
              "groups": {g: {"n": f["n"], "accuracy": f["accuracy"], "macro_f1": f["macro_f1"],
                             "ec57": f.get("ec57")} for g, f in groups.items()},
              "noise_training": meta.get("noise"),
              "noise": noise_figures(model, meta, noise_root, cache) if noise_root else None,
              "detection": meta["dataset"]["heldout_records"], "latency": latency,
              "model": meta["model"], "training": meta["training"], "chain_version": meta["chain_version"],
              "context_features": meta["context_features"],
              "validation": meta.get("validation")}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(render_markdown(report, notes.read_text() if notes else None))
    return report


def _ec57_cells(ec57: dict | None) -> str:
    if not ec57:
        return "- | - | - | -"
    return " | ".join(f"{_pct(ec57[k]['se'])} | {_pct(ec57[k]['ppv'])}" for k in ("VEB", "SVEB"))


def group_lines(r: dict) -> list[str]:
    """Figures of each database's held-out patients, side by side (only when there is more than one)."""
    groups = r.get("groups") or {}
    if len(groups) < 2:
        return []
    lines = [f"## Each database's {r['heldout']} patients", "",
             "| database | beats | accuracy % | VEB Se % | VEB +P % | SVEB Se % | SVEB +P % |",
             "|---|---|---|---|---|---|---|"]
    for name, g in groups.items():
        lines.append(f"| {name} | {g['n']} | {_pct(g['accuracy'])} | {_ec57_cells(g['ec57'])} |")
    return lines + [""]


def noise_lines(r: dict) -> list[str]:
    """The noise sections: what noise training saw, and the held-out MIT-BIH records in noise."""
    lines = []
    nt = r.get("noise_training")
    if nt and nt["copies_per_training_record"]:
        lines += ["## Noise", "", f"Training added {nt['copies_per_training_record']} noisy cop"
                  f"{'y' if nt['copies_per_training_record'] == 1 else 'ies'} of every training record "
                  f"({nt['beats']} beats): nstdb {' or '.join(nt['kinds'])}, channel {nt['channel']}, SNR drawn "
                  f"uniformly in {nt['snr_db'][0]:g}..{nt['snr_db'][1]:g} dB (QRS peak-to-peak power against the "
                  "noise's mean square, as nst), added to the raw signal before the chain.", ""]
    ev = r.get("noise")
    if ev:
        lines += ([] if lines else ["## Noise", ""]) + [
            f"The MIT-BIH {r['heldout']} records ({' '.join(ev['records'])}) again, each with nstdb noise of "
            f"channel {ev['channel']} (never used in training) added to the whole record before the chain, at an "
            "offset fixed by the record. Figures over the beats the detector found and matched; detection "
            "errors beside.", "",
            "| noise | SNR dB | beats | VEB Se % | VEB +P % | SVEB Se % | SVEB +P % | missed beats "
            "| false detections |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| none | - | {r['figures']['n']} | {_ec57_cells(r['figures'].get('ec57'))} | | |"]
        for f in ev["figures"].values():
            d = f["detection"]
            lines.append(f"| {f['kind']} | {f['snr_db']:g} | {f['n']} | {_ec57_cells(f['ec57'])} "
                         f"| {d['missed_reference']} | {d['unmatched_detections']} |")
        lines.append("")
    return lines


def data_lines(r: dict) -> list[str]:
    """Every patient of every part of the split, by name (record ids: bare for MIT-BIH, ``svdb/...``)."""
    if r["split"] == "intra":
        return ["## Data", "", f"Records (all parts, beats split at random): {' '.join(r['records']['train'])}", ""]
    lines = ["## Data", ""]
    for part in ("train", "validation", "test"):
        recs = r["records"].get(part) or []
        lines.append(f"- **{part}** ({len(recs)} patients): {' '.join(recs) or 'none'}")
    return lines + [""]


def render_markdown(r: dict, notes: str | None) -> str:
    """The report as Markdown."""
    fig, flat = r["figures"], r["headline"]
    classes = fig["classes"]
    lines = [f"# Evaluation: {r['run']}", "",
             f"- **Scheme:** {r['scheme']} - "
             + "; ".join(f"{c} = {' '.join(m)}" for c, m in r["label_members"].items()),
             f"- **Split:** `{r['split']}` - {r['protocol']}",
             f"- **Evaluated on:** the {r['heldout']} set, {fig['n']} beats from records "
             + (' '.join(x for x in r['records'][r['heldout']] if parse_record_id(x)[0] == 'mitdb')
                if r['split'] != 'intra' else f"(all {len(r['records']['test'])}, a random 20 % of their beats)"),
             f"- **Databases:** {', '.join(r.get('databases', ['mitdb']))}; patients of each part under "
             "[Data](#data).",
             f"- **Chain:** {r['chain_version']}; figures are for the float Keras model.", "",
             "## Headline", "",
             f"Accuracy **{_pct(flat['accuracy'])} %**, macro-F1 **{_pct(flat['macro_f1'])} %** "
             "(mean F1 over the classes present in the evaluated set).", ""]
    if "ec57" in fig:
        lines += ["EC57 gross statistics (bxb rules: F or Q called V and Q called S are not false positives):", "",
                  "| | Se % | +P % | FPR % | F1 % | TP | FN | FP |", "|---|---|---|---|---|---|---|---|"]
        for name in ("VEB", "SVEB"):
            s = fig["ec57"][name]
            lines.append(f"| {name} | {_pct(s['se'])} | {_pct(s['ppv'])} | {_pct(s['fpr'], 3)} | {_pct(s['f1'])} "
                         f"| {s['tp']} | {s['fn']} | {s['fp']} |")
        lines.append("")
    lines += ["## Per class", "", "| class | beats | Se % | +P % | Sp % | F1 % |", "|---|---|---|---|---|---|"]
    for c in classes:
        s = fig["per_class"][c]
        lines.append(f"| {c} | {s['support']} | {_pct(s['se'])} | {_pct(s['ppv'])} | {_pct(s['sp'])} "
                     f"| {_pct(s['f1'])} |")
    lines += ["", "![confusion matrix](confusion.png)", "", "## Against published figures on the same protocol", ""]
    if r["anchors"]:
        keys = ["accuracy", "veb_se", "veb_ppv", "sveb_se", "sveb_ppv", "veb_f1", "sveb_f1", "macro_f1"]
        used = [k for k in keys if any(k in a for a in r["anchors"])]
        lines += ["| source | " + " | ".join(used) + " |", "|---" * (len(used) + 1) + "|"]
        for a in r["anchors"]:
            lines.append(f"| {a['source']} | " + " | ".join(_pct(a.get(k), 2) if k in a else "" for k in used) + " |")
        lines.append(f"| **this model** | " + " | ".join(f"**{_pct(flat.get(k))}**" for k in used) + " |")
        lines += ["", "Published figures are as reported by their authors (their own beat detection, leads and "
                  "exclusions); ours are over beats our detector found and matched to the reference.", ""]
    else:
        lines += ["No published figure on this exact protocol is used as an anchor; these numbers are not "
                  "comparable with intra- or inter-patient results in the literature.", ""]
    if r["targets"]:
        lines += ["## Project targets", "", "| figure | target % | measured % | met |", "|---|---|---|---|"]
        for t in r["targets"]:
            verdict = "yes" if t["met"] else f"**no**, short by {t['short_by_points']} points"
            lines.append(f"| {t['figure']} | {_pct(t['target'])} | {_pct(t['measured'])} | {verdict} |")
        lines.append("")
    lines += group_lines(r) + noise_lines(r)
    lines += ["## Beats not evaluated", ""] + detection_lines(r["detection"], r["split"]) + [""]
    lines += data_lines(r)
    m, tr, lat = r["model"], r["training"], r["latency"]
    lines += ["## Model and training", "",
              f"- CNN widths {m['widths']}, dense {m['dense']}: {m['params']} parameters (int8 file about "
              f"{m['params'] / 1024:.0f} KB plus overhead), {m['macs'] / 1e6:.2f} M multiply-accumulates per beat; "
              f"inputs: the beat image and its context features ({', '.join(r['context_features'])}, "
              f"gateway/signal/context.py); image dropout {m['image_dropout']}.",
              f"- Trained {tr['epochs_run']} epochs of {tr['epoch_size']} drawn beats (best epoch {tr['best_epoch']}) "
              f"in {tr['seconds'] / 60:.1f} min on {tr['threads']} thread{'s' if tr['threads'] != 1 else ''}; "
              f"class share ~ count^{tr['balance']}, "
              f"{100 * tr['augment_fraction']:.0f} % of drawn beats augmented, Adam lr {tr['lr']}, seed {tr['seed']}; "
              "early stopping on validation macro-F1"
              + ("" if tr.get("stretch", True) else "; the seed's time-stretch left out of the augmentation") + ".",
              f"- Prior correction chosen on the validation set: tau = {tr.get('prior_tau', 0)} "
              "(0 keeps the rebalanced training prior, 1 restores the natural one; folded into the last bias).",
              *validation_lines(r.get("validation"), r["split"]),
              f"- Speed: float TFLite, 1 thread on this x86 machine: {lat['x86_float_min_ms']:.2f} ms per beat "
              f"(median {lat['x86_float_median_ms']:.2f} ms on the shared machine). Pi 4 estimate: "
              f"{lat['pi4_est_ms_from_x86']:.1f} ms (x86 x {lat['pi4_factor']:g}, a pessimistic core-for-core "
              f"factor) and {lat['pi4_est_ms_from_macs']:.1f} ms ({lat['macs'] / 1e6:.1f} M MACs at 3 G MAC/s); "
              "see training/latency.py for the assumptions.", "",
              "## Misclassified beats", "", "Record, time of the R peak, true -> predicted label (probability).", "",
              "![misclassified beats](misclassified.png)", ""]
    if notes:
        lines += [notes.rstrip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a training run and write its report.")
    parser.add_argument("run", type=Path, help="run directory written by ecg-train")
    parser.add_argument("--out", type=Path, help="report directory (default: reports/<run name>)")
    parser.add_argument("--notes", type=Path, help="Markdown appended to the report")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--noise", action="store_true",
                        help="also evaluate the MIT-BIH held-out records with nstdb noise (channel 1) at "
                             + ", ".join(f"{v:g}" for v in EVAL_SNR_DB) + " dB")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT, help="databases, for --noise")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="beat cache, for --noise")
    args = parser.parse_args(argv)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    except RuntimeError:  # TF already running in this process (tests, notebooks): keep its threads
        print(f"TensorFlow is already initialised; --threads {args.threads} not applied", file=sys.stderr)
    report = write_report(args.run, args.out or Path("reports") / args.run.name, args.notes,
                          noise_root=args.data_root if args.noise else None, cache=args.cache)
    h = report["headline"]
    print(f"{report['run']}: accuracy {_pct(h['accuracy'])} %, macro-F1 {_pct(h['macro_f1'])} %"
          + "".join(f", {t['figure']} {_pct(t['measured'])} % ({'met' if t['met'] else 'missed'})"
                    for t in report["targets"]))


if __name__ == "__main__":
    main()
