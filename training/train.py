"""Train the beat classifier and write the run directory the converter and the reports read.

    ecg-train --scheme seed8 --split intra --out runs/seed8-intra
    ecg-train --scheme aami5 --split inter --databases mitdb svdb --noise-copies 1 --out runs/aami5-inter-svdb

Writes into ``--out``:

* ``model.keras`` - the float model with the best validation macro-F1, with
  the validation-chosen prior correction folded into its last bias
  (:mod:`training.prior`);
* ``meta.json`` - scheme, labels in output order, split and its records,
  the chain's constants (``CHAIN_VERSION``, rate, window, image size,
  raster parameters), hyper-parameters, seed, epochs, training time, the
  dataset's match statistics and the evaluation figures;
* ``representative.npz`` - ``images`` uint8 ``(k, 128, 128)`` and ``context``
  float32 ``(k, N_CONTEXT)``: a few hundred un-augmented training beats
  covering every class, for int8 calibration (``labels`` alongside);
* ``heldout.npz`` - ``images``, ``context`` and ``labels`` of the test split
  (for ``--split all``, the validation patients), plus ``records`` and
  ``peaks`` to trace each beat back to its record.

``--databases`` adds other databases' patients to the split's parts
(:mod:`training.splits`); ``--noise-copies`` adds noisy copies of every
training record (recorded electrode noise added before the chain,
:mod:`training.noise`) to the training beats only.  Training draws
``--epoch-size`` beats per epoch with class shares
proportional to ``count ** balance`` and augments a fraction of them;
the learning rate follows a cosine decay over ``--epochs``; early stopping
watches the validation macro-F1 (never the test split) and keeps the best
epoch's weights.  ``--init-from RUN`` starts from another run's weights
where the layers match, ``--freeze-conv`` keeps its convolutions fixed
(:mod:`training.transfer`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.signal.raster import RASTER_PARAMS
from gateway.signal.context import CONTEXT_FEATURES, N_CONTEXT
from gateway.signal.spec import CHAIN_VERSION, IMAGE_SIZE, MODEL_FS, WINDOW_AFTER, WINDOW_BEFORE

from .batches import make_training_sequence, render, to_model_input
from .dataset import (DATA_ROOT, DATABASES, DEFAULT_CACHE, RecordBeats, cache_key, database_records, load_records,
                      parse_record_id, summarize)
from .labels import SCHEMES, get_scheme
from .metrics import figures
from .noise import NOISE_KINDS, TRAIN_CHANNEL, TRAIN_SNR_DB, training_noise
from .model import DEFAULT_DENSE, DEFAULT_WIDTHS, build_model, macs
from .prior import choose_tau, fold_into_model, log_offsets
from .splits import SPLITS, make_split, records_for
from .transfer import init_from

#: Beats per class in representative.npz (fewer if a class has fewer).
REPRESENTATIVE_PER_CLASS = 60


@dataclass
class Pool:
    """All beats of the used records, concatenated."""

    windows: np.ndarray
    symbols: np.ndarray
    records: np.ndarray
    peaks: np.ndarray
    context: np.ndarray


def pool(beats: dict[str, RecordBeats]) -> Pool:
    """Concatenate per-record beats in record order."""
    items = list(beats.values())
    return Pool(np.concatenate([b.windows for b in items]),
                np.concatenate([b.symbols for b in items]),
                np.concatenate([np.full(len(b), b.record) for b in items]),
                np.concatenate([b.peaks for b in items]),
                np.concatenate([b.context for b in items]))


def predict(model, images: np.ndarray, context: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Class probabilities for uint8 images and their context features, in chunks to bound memory."""
    parts = [model.predict(to_model_input(images[i:i + chunk], context[i:i + chunk]), batch_size=256,
                           verbose=0) for i in range(0, len(images), chunk)]
    return np.concatenate(parts) if parts else np.empty((0, model.output_shape[-1]))


def representative(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of up to ``per_class`` beats of every class, drawn at random."""
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def make_callbacks(val_images: np.ndarray, val_context: np.ndarray, val_labels: np.ndarray, classes: tuple[str, ...],
                   patience: int, max_seconds: float):
    """Validation macro-F1 each epoch, early stopping on it, and a wall-clock budget."""
    import keras

    class ValidationF1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pred = predict(self.model, val_images, val_context).argmax(axis=1)
            f = figures(val_labels, pred, classes)
            logs["val_macro_f1"] = f["macro_f1"]
            logs["val_accuracy"] = f["accuracy"]
            print(f"epoch {epoch + 1}: val accuracy {f['accuracy']:.4f}, macro-F1 {f['macro_f1']:.4f}"
                  + "".join(f", {c} Se {v['se'] or 0:.3f} +P {v['ppv'] or 0:.3f}" for c, v in f["per_class"].items()
                            if v["support"]), flush=True)

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            if time.monotonic() - self.start > max_seconds:
                print(f"time budget of {max_seconds / 60:.0f} min reached; stopping", flush=True)
                self.model.stop_training = True

    return [ValidationF1(),
            keras.callbacks.EarlyStopping("val_macro_f1", mode="max", patience=patience,
                                          restore_best_weights=True, verbose=1),
            TimeBudget()]


def noisy_copies(args: argparse.Namespace, train_records: list[str]) -> dict[str, RecordBeats]:
    """``args.noise_copies`` noisy copies of each training record (training.noise), keyed by beats_key.

    Refused for the ``intra`` split: its test beats come from the same
    records, and their noisy twins would be trained on.
    """
    if args.split == "intra":
        raise ValueError("--noise-copies needs a split by patient (inter or all): under intra the noisy copy "
                         "of a test beat would be a training beat")
    names = [r for r in train_records for _ in range(args.noise_copies)]
    specs = [spec for r in train_records for spec in training_noise(r, args.noise_copies, args.seed)]
    return load_records(args.data_root, names, args.cache, noise=specs)


def train(args: argparse.Namespace) -> dict:
    """Run one training as configured by the command-line arguments; returns meta.json's content."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already running in this process (tests, notebooks): keep its threads
        print(f"TensorFlow is already initialised; --threads {args.threads} not applied", file=sys.stderr)
    scheme = get_scheme(args.scheme)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    available = args.records or database_records(args.data_root, args.databases)
    beats = load_records(args.data_root, records_for(args.split, available), args.cache)
    data = pool(beats)
    labels = scheme.encode(data.symbols)
    split = make_split(args.split, data.records, labels, args.seed)
    heldout = split.validation if args.split == "all" else split.test
    for part in ("train", "validation"):
        if getattr(split, part).size == 0:
            raise ValueError(f"split {args.split!r} left no {part} beats with labels of scheme {scheme.name}")
    train_windows, train_context, train_labels = (data.windows[split.train], data.context[split.train],
                                                  labels[split.train])
    noisy = noisy_copies(args, split.records["train"]) if args.noise_copies else {}
    if noisy:
        extra = pool(noisy)
        extra_labels = scheme.encode(extra.symbols)
        keep = extra_labels >= 0
        train_windows = np.concatenate([train_windows, extra.windows[keep]])
        train_context = np.concatenate([train_context, extra.context[keep]])
        train_labels = np.concatenate([train_labels, extra_labels[keep]])

    print(f"{args.split} split, scheme {scheme.name}: train {split.train.size} "
          f"(+ {train_labels.size - split.train.size} in noisy copies), validation {split.validation.size}, "
          f"test {split.test.size} beats", flush=True)
    val_images, val_context = render(data.windows[split.validation]), data.context[split.validation]
    sequence = make_training_sequence(train_windows, train_context, train_labels,
                                      epoch_size=args.epoch_size, batch_size=args.batch_size,
                                      balance=args.balance, augment_fraction=args.augment, seed=args.seed,
                                      stretch=not args.no_stretch)
    model = build_model(len(scheme.classes), args.widths, args.dense, args.dropout, args.image_dropout, args.seed)
    transfer = init_from(model, args.init_from, args.freeze_conv) if args.init_from else None
    if transfer:
        print(f"initialised from {args.init_from}: copied {', '.join(transfer['copied'])}; fresh "
              f"{', '.join(transfer['initialised']) or 'none'}; frozen {', '.join(transfer['frozen']) or 'none'}",
              flush=True)
    # Cosine decay over the planned epochs: the last, low-rate epochs settle the weights, which a
    # constant rate (tried first) never did: validation macro-F1 swung by +-5 points between epochs.
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=args.epochs * len(sequence), alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  jit_compile=True)
    callbacks = make_callbacks(val_images, val_context, labels[split.validation], scheme.classes, args.patience,
                               args.max_minutes * 60)
    start = time.monotonic()
    history = model.fit(sequence, epochs=args.epochs, callbacks=callbacks,
                        verbose=1 if sys.stdout.isatty() else 2)
    train_seconds = time.monotonic() - start
    train_counts = np.bincount(train_labels, minlength=len(scheme.classes))
    tau, tau_scores = choose_tau(predict(model, val_images, val_context), labels[split.validation], train_counts,
                                 args.balance, scheme.classes)
    offsets = log_offsets(train_counts, args.balance, tau)
    fold_into_model(model, offsets)
    print(f"prior correction tau = {tau} (validation macro-F1 by tau: "
          + ", ".join(f"{t}: {v:.4f}" for t, v in tau_scores.items()) + ")", flush=True)
    model.save(out / "model.keras")

    held_images = render(data.windows[heldout])
    held_labels, held_context = labels[heldout], data.context[heldout]
    np.savez_compressed(out / "heldout.npz", images=held_images, context=held_context, labels=held_labels,
                        records=data.records[heldout], peaks=data.peaks[heldout])
    rep = split.train[representative(labels[split.train], REPRESENTATIVE_PER_CLASS, args.seed)]
    np.savez_compressed(out / "representative.npz", images=render(data.windows[rep]), context=data.context[rep],
                        labels=labels[rep])

    val_f1 = history.history.get("val_macro_f1", [])
    val_pred = predict(model, val_images, val_context).argmax(axis=1)  # with the prior correction folded in
    held_pred = val_pred if args.split == "all" else predict(model, held_images, held_context).argmax(axis=1)
    meta = {
        "scheme": scheme.name,
        "labels": list(scheme.classes),
        "label_members": {c: list(scheme.members[c]) for c in scheme.classes},
        "split": args.split,
        "heldout": "validation" if args.split == "all" else "test",
        "databases": sorted({parse_record_id(r)[0] for r in data.records.tolist()}),
        "records": split.records,
        "beats": {"train": int(split.train.size), "validation": int(split.validation.size),
                  "test": int(split.test.size)},
        "class_counts": {part: {c: int(np.sum(labels[getattr(split, part)] == i))
                                for i, c in enumerate(scheme.classes)}
                         for part in ("train", "validation", "test")},
        "cache_key": cache_key(),
        "chain_version": CHAIN_VERSION,
        "sample_rate": MODEL_FS,
        "window": {"before": WINDOW_BEFORE, "after": WINDOW_AFTER},
        "image_size": IMAGE_SIZE,
        "raster": RASTER_PARAMS,
        "input": {"dtype": "float32", "shape": [None, IMAGE_SIZE, IMAGE_SIZE, 1],
                  "range": [0, 255], "rescaling_inside_model": 1 / 255},
        "context_features": list(CONTEXT_FEATURES),
        "context_input": {"dtype": "float32", "shape": [None, N_CONTEXT]},
        "model": {"widths": list(args.widths), "dense": args.dense, "dropout": args.dropout,
                  "image_dropout": args.image_dropout,
                  "params": int(model.count_params()), "macs": macs(model)},
        "training": {"epochs_run": len(val_f1), "best_epoch": int(np.argmax(val_f1)) + 1 if val_f1 else None,
                     "val_macro_f1_per_epoch": [float(v) for v in val_f1],
                     "epoch_size": args.epoch_size, "batch_size": args.batch_size, "balance": args.balance,
                     "augment_fraction": args.augment, "stretch": not args.no_stretch, "lr": args.lr,
                     "patience": args.patience,
                     "seed": args.seed, "threads": args.threads, "seconds": round(train_seconds, 1),
                     "prior_tau": tau, "prior_tau_val_macro_f1": {str(t): v for t, v in tau_scores.items()},
                     "prior_logit_offsets": [float(v) for v in offsets]},
        "transfer": transfer,
        "noise": {"copies_per_training_record": args.noise_copies, "kinds": list(NOISE_KINDS),
                  "channel": TRAIN_CHANNEL, "snr_db": list(TRAIN_SNR_DB),
                  "beats": int(train_labels.size - split.train.size),
                  "copies": summarize(noisy, scheme.name) if noisy else None},
        "dataset": {"per_record": {r: b.stats for r, b in beats.items()},
                    "heldout_records": summarize({r: beats[r] for r in sorted(set(data.records[heldout]))},
                                                 scheme.name)},
        "validation": figures(labels[split.validation], val_pred, scheme.classes),
        "evaluation": figures(held_labels, held_pred, scheme.classes),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def _widths(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the beat-image CNN on MIT-BIH.")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), required=True)
    parser.add_argument("--split", choices=SPLITS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="run directory, e.g. runs/seed8-intra")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT,
                        help="directory with one WFDB directory per database (default: %(default)s)")
    parser.add_argument("--databases", nargs="+", choices=DATABASES, default=["mitdb"],
                        help="beat-labelled databases to use (their patients join the split's parts, "
                             "see training.splits)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--records", nargs="*",
                        help="only these record ids, e.g. 100 svdb/800 (default: all the split needs)")
    parser.add_argument("--noise-copies", type=int, default=0,
                        help="noisy copies of each training record added to the training beats (nstdb bw/ma, "
                             "channel 0, 6-24 dB; training.noise)")
    parser.add_argument("--epochs", type=int, default=12, help="planned epochs (the LR decays over them)")
    parser.add_argument("--epoch-size", type=int, default=30000, help="beats drawn per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--balance", type=float, default=0.5,
                        help="class share ~ count**balance (1 natural, 0 fully balanced)")
    parser.add_argument("--augment", type=float, default=0.5, help="fraction of drawn beats augmented")
    parser.add_argument("--no-stretch", action="store_true",
                        help="leave the seed's 1.25 time-stretch out of the augmentation")
    parser.add_argument("--lr", type=float, default=3e-3, help="initial learning rate")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--image-dropout", type=float, default=0.25,
                        help="fraction of training beats whose whole image features are blanked (see training.model)")
    parser.add_argument("--widths", type=_widths, default=DEFAULT_WIDTHS, help="4 conv widths, e.g. 8,16,32,64")
    parser.add_argument("--dense", type=int, default=DEFAULT_DENSE)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--max-minutes", type=float, default=55.0, help="wall-clock training budget")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", type=Path, metavar="RUN",
                        help="start from this run's weights where the layers match (training.transfer)")
    parser.add_argument("--freeze-conv", action="store_true", help="with --init-from: keep its convolutions fixed")
    args = parser.parse_args(argv)
    if args.freeze_conv and not args.init_from:
        parser.error("--freeze-conv needs --init-from")
    meta = train(args)
    # Only validation figures are printed: hyper-parameters are chosen on them, never on the test split
    # (its figures are in meta.json and in the report of ecg-evaluate).
    val = meta["validation"]
    print(f"validation ({meta['split']}): accuracy {val['accuracy']:.4f}, macro-F1 {val['macro_f1']:.4f} over "
          f"{val['n']} beats" + "".join(f", {k} Se {v['se'] or 0:.3f} +P {v['ppv'] or 0:.3f}"
                                       for k, v in val.get("ec57", {}).items()) + f"; run in {args.out}")


if __name__ == "__main__":
    main()
