"""Train / validation / test splits, by beat or by patient, named in every report.

* ``intra`` - the seed's random beat split over all 48 records, 70 % train,
  20 % test, 10 % validation, stratified by class.  Beats of one patient
  land on both sides, so this is the optimistic intra-patient protocol the
  seed (93 %) and Jun et al. 2018 (99.05 %) report; it says little about a
  new patient.
* ``inter`` - the AAMI inter-patient protocol (de Chazal et al. 2004):
  train on DS1, test on DS2, paced records left out; the validation set is
  a few whole DS1 patients held out of training.
* ``all`` - train on every record but a few validation patients (for early
  stopping); there is no test set, the validation patients are the held-out
  set.  This is how the shipped models are trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PACED = ("102", "104", "107", "217")
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203",
       "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214",
       "219", "221", "222", "228", "231", "232", "233", "234")
#: DS1 patients held out for validation under ``inter``, chosen from DS1's
#: class counts before any training: together about a fifth of DS1's
#: S (198 of 931) and V (700 of 3686) beats and 20 F beats, leaving the
#: S-richest patients (209, 207, 201, 220) to training.
INTER_VALIDATION = ("118", "124", "215", "223")
#: Patients held out for validation under ``all``: the same choice (the
#: shipped models stop early on the same patients), plus paced 217 so the
#: paced class is validated too.
ALL_VALIDATION = INTER_VALIDATION + ("217",)
SPLITS = ("intra", "inter", "all")
INTRA_FRACTIONS = {"train": 0.7, "test": 0.2, "validation": 0.1}


@dataclass(frozen=True)
class Split:
    """Indices into the pooled beat arrays, plus which records feed each part."""

    name: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    records: dict[str, list[str]]


def records_for(split: str, available: list[str]) -> list[str]:
    """Records a split uses, in order; error if a record it needs is missing."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    wanted = list(DS1 + DS2) if split == "inter" else list(available)
    missing = sorted(set(wanted) - set(available))
    if split == "inter" and missing:
        raise ValueError(f"split 'inter' needs records {missing}, which are not in the data directory")
    return sorted(wanted)


def make_split(split: str, record_of_beat: np.ndarray, labels: np.ndarray, seed: int) -> Split:
    """Split pooled beats (``record_of_beat`` names each beat's record; ``labels`` its class).

    Only beats with ``labels >= 0`` (in the label scheme) are placed.
    """
    record_of_beat = np.asarray(record_of_beat).astype(str)
    labels = np.asarray(labels)
    usable = labels >= 0
    present = sorted(set(record_of_beat.tolist()))
    if split == "intra":
        rng = np.random.default_rng(seed)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in INTRA_FRACTIONS}
        for cls in np.unique(labels[usable]):
            idx = rng.permutation(np.flatnonzero(labels == cls))
            n_train = int(round(INTRA_FRACTIONS["train"] * idx.size))
            n_test = int(round(INTRA_FRACTIONS["test"] * idx.size))
            parts["train"].append(idx[:n_train])
            parts["test"].append(idx[n_train:n_train + n_test])
            parts["validation"].append(idx[n_train + n_test:])
        out = {k: np.sort(np.concatenate(v)) if v else np.empty(0, np.int64) for k, v in parts.items()}
        return Split(split, out["train"], out["validation"], out["test"],
                     {"train": present, "validation": present, "test": present})
    if split == "inter":
        groups = {"train": sorted(set(DS1) - set(INTER_VALIDATION)), "validation": sorted(INTER_VALIDATION),
                  "test": sorted(DS2)}
    elif split == "all":
        validation = sorted(r for r in ALL_VALIDATION if r in present) or present[-1:]
        groups = {"train": sorted(set(present) - set(validation)), "validation": validation, "test": []}
    else:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    idx = {k: np.flatnonzero(usable & np.isin(record_of_beat, v)) for k, v in groups.items()}
    return Split(split, idx["train"], idx["validation"], idx["test"], groups)
