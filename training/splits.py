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

When svdb's records are among the data (``ecg-train --databases mitdb
svdb``), its patients join each side by a fixed rule, set by record number
before any model was trained on them: of its 58 records in sorted order,
every fifth from the first is the held-out test group (:data:`SVDB_TEST`,
12 patients), every fifth from the fourth is validation
(:data:`SVDB_VALIDATION`, 11), the other 35 train.  Under ``inter`` the
test group is evaluated beside DS2 (never used for any choice); under
``all`` it trains too (the shipped models learn from every patient but the
validation ones).
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
#: svdb's fixed groups (see the module docstring); together they hold 3438 of svdb's 8979 S beats
#: and 3122 of its 7329 V beats, counted from the reference annotations when the rule was fixed.
SVDB_TEST = tuple(f"svdb/{r}" for r in "800 806 812 826 843 849 854 864 870 878 886 892".split())
SVDB_VALIDATION = tuple(f"svdb/{r}" for r in "804 809 824 841 847 852 861 867 873 884 890".split())
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


def _svdb(records: list[str] | set[str]) -> list[str]:
    return sorted(r for r in records if r.startswith("svdb/"))


def records_for(split: str, available: list[str]) -> list[str]:
    """Records a split uses, in order; error if a record it needs is missing.

    ``inter`` needs DS1 and DS2 and, if any svdb record is available, every
    record of svdb's fixed validation and test groups.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    svdb = _svdb(available)
    needed = (list(DS1 + DS2) + (list(SVDB_VALIDATION + SVDB_TEST) if svdb else [])) if split == "inter" else []
    missing = sorted(set(needed) - set(available))
    if missing:
        raise ValueError(f"split 'inter' needs records {missing}, which are not in the data directory")
    wanted = list(DS1 + DS2) + svdb if split == "inter" else list(available)
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
    svdb = _svdb(present)
    svdb_validation = [r for r in svdb if r in SVDB_VALIDATION]
    if split == "inter":
        svdb_test = [r for r in svdb if r in SVDB_TEST]
        svdb_train = sorted(set(svdb) - set(svdb_validation + svdb_test))
        groups = {"train": sorted(set(DS1) - set(INTER_VALIDATION)) + svdb_train,
                  "validation": sorted(INTER_VALIDATION) + svdb_validation, "test": sorted(DS2) + svdb_test}
    elif split == "all":
        validation = sorted(r for r in ALL_VALIDATION if r in present) + svdb_validation or present[-1:]
        groups = {"train": sorted(set(present) - set(validation)), "validation": validation, "test": []}
    else:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    idx = {k: np.flatnonzero(usable & np.isin(record_of_beat, v)) for k, v in groups.items()}
    return Split(split, idx["train"], idx["validation"], idx["test"], groups)
