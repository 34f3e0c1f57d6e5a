"""Classification figures: confusion matrix, per-class Se/+P/Sp/F1, and EC57 gross VEB/SVEB statistics.

The EC57 statistics follow ``bxb``, the WFDB reference implementation of
the standard's beat-by-beat comparison (``app/bxb.c``):

* VEB: TP = V called V; FN = V called anything else; FP = N or S called V
  (fusion F and unclassifiable Q beats called V are *not* false positives);
  FPR = FP / (FP + TN), TN = N, S, F, Q beats not called V.
* SVEB: TP = S called S; FN = S called anything else; FP = N, V or F called
  S (Q called S is not counted); FPR likewise.

Here they are computed over beats that were detected and matched to a
reference beat; detection errors are reported separately.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]`` = beats of true class ``i`` predicted as ``j``."""
    true = np.asarray(true, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in shape: {true.shape} vs {pred.shape}")
    for name, arr in (("true", true), ("pred", pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} labels must lie in 0..{n_classes - 1}")
    return np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b > 0 else None


def per_class(cm: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """Sensitivity, positive predictivity, specificity and F1 of each class (None when undefined)."""
    total = cm.sum()
    out = {}
    for i, name in enumerate(classes):
        tp = cm[i, i]
        fn = cm[i].sum() - tp
        fp = cm[:, i].sum() - tp
        tn = total - tp - fn - fp
        se, ppv = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
        f1 = 2 * se * ppv / (se + ppv) if se is not None and ppv is not None and se + ppv > 0 else None
        out[name] = {"support": int(cm[i].sum()), "tp": int(tp), "fn": int(fn), "fp": int(fp),
                     "se": se, "ppv": ppv, "sp": _ratio(tn, tn + fp), "f1": f1}
    return out


def summary(true: np.ndarray, pred: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict:
    """Accuracy, macro-F1 (over classes present in ``true``), per-class figures and the matrix."""
    cm = confusion_matrix(true, pred, len(classes))
    stats = per_class(cm, classes)
    present = [s["f1"] or 0.0 for s in stats.values() if s["support"] > 0]
    return {"n": int(cm.sum()), "accuracy": _ratio(np.trace(cm), cm.sum()),
            "macro_f1": float(np.mean(present)) if present else None,
            "per_class": stats, "confusion": cm.tolist(), "classes": list(classes)}


def ec57_gross(cm: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """EC57 gross VEB and SVEB statistics from an AAMI-class confusion matrix (rules in the module docstring)."""
    idx = {c: i for i, c in enumerate(classes)}
    missing = {"N", "S", "V", "F", "Q"} - set(idx)
    if missing:
        raise ValueError(f"EC57 statistics need the AAMI classes N S V F Q; missing {sorted(missing)}")

    def stats(pos: str, not_fp: tuple[str, ...]) -> dict:
        p = idx[pos]
        tp = cm[p, p]
        fn = cm[p].sum() - tp
        fp = sum(cm[idx[c], p] for c in classes if c != pos and c not in not_fp)
        tn = sum(cm[idx[c]].sum() - cm[idx[c], p] for c in classes if c != pos)
        se, ppv = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
        f1 = 2 * se * ppv / (se + ppv) if se is not None and ppv is not None and se + ppv > 0 else None
        return {"tp": int(tp), "fn": int(fn), "fp": int(fp), "tn": int(tn),
                "se": se, "ppv": ppv, "fpr": _ratio(fp, fp + tn), "f1": f1}

    return {"VEB": stats("V", ("F", "Q")), "SVEB": stats("S", ("Q",))}


def figures(true: np.ndarray, pred: np.ndarray, classes: tuple[str, ...] | list[str]) -> dict:
    """:func:`summary`, plus the EC57 gross statistics when the classes are the AAMI five."""
    out = summary(true, pred, classes)
    if set(classes) == {"N", "S", "V", "F", "Q"}:
        out["ec57"] = ec57_gross(np.asarray(out["confusion"]), classes)
    return out
