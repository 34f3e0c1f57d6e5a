"""Pairing detected R peaks with reference beats, one to one, as EC57's bxb does.

Training (the labels of the beats it learns from), patient adaptation
(``ecg-adapt``'s labelled beats) and the benchmarks all pair detections
with annotations by this one rule, so a beat is "matched" the same way
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Maximum distance between a detection and the reference beat it is
#: matched with (EC57 / bxb default match window).
MATCH_WINDOW_S = 0.150
#: WFDB annotation codes of beats (a QRS complex), for scoring and labelling; rhythm, noise and comment
#: annotations are not beats, nor are ventricular flutter waves ``!`` (see :data:`FLUTTER_WAVE`).
REFERENCE_BEATS = frozenset("NLRBAaJSVrFejnE/fQ?")
#: The code of a ventricular flutter wave: a deflection the reference marks, but not a beat of a rhythm.
FLUTTER_WAVE = "!"


@dataclass(frozen=True)
class Matching:
    """One-to-one pairing of detections with reference beats.

    ``ref_of_detection[i]`` is the reference index matched to detection
    ``i`` or -1 (an unmatched detection, a false positive);
    ``missed`` lists reference indices no detection was matched to.
    """

    ref_of_detection: np.ndarray
    missed: np.ndarray


def match_beats(detections: np.ndarray, reference: np.ndarray, tolerance: int) -> Matching:
    """Pair each detection with at most one reference beat within ``tolerance`` samples.

    Closest pairs are taken first, so a detection between two reference
    beats goes to the nearer one and each reference beat is used once.
    """
    det = np.asarray(detections, dtype=np.int64)
    ref = np.asarray(reference, dtype=np.int64)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 samples, got {tolerance}")
    for name, arr in (("detections", det), ("reference", ref)):
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array of sample indices, got shape {arr.shape}")
        if np.any(np.diff(arr) < 0):
            raise ValueError(f"{name}: sample indices must be sorted")
    ref_of_det = np.full(det.size, -1, dtype=np.int64)
    if det.size and ref.size:
        # Candidate pairs: each detection with its neighbours on either side.
        right = np.searchsorted(ref, det)
        cand_det = np.concatenate([np.arange(det.size), np.arange(det.size)])
        cand_ref = np.concatenate([right - 1, right])
        ok = (cand_ref >= 0) & (cand_ref < ref.size)
        cand_det, cand_ref = cand_det[ok], cand_ref[ok]
        dist = np.abs(det[cand_det] - ref[cand_ref])
        near = dist <= tolerance
        cand_det, cand_ref, dist = cand_det[near], cand_ref[near], dist[near]
        used_ref = np.zeros(ref.size, dtype=bool)
        for k in np.lexsort((cand_ref, cand_det, dist)):
            d, r = cand_det[k], cand_ref[k]
            if ref_of_det[d] < 0 and not used_ref[r]:
                ref_of_det[d] = r
                used_ref[r] = True
    matched = np.zeros(ref.size, dtype=bool)
    matched[ref_of_det[ref_of_det >= 0]] = True
    return Matching(ref_of_det, np.flatnonzero(~matched))
