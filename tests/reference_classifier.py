"""A stand-in beat classifier that answers with the reference annotations of a fixture record.

Tests of the processor and the alert policy must not depend on how good
the trained model is, so this classifier "recognises" each beat image by
looking it up among the images of the same record rendered offline (the
same counts conversion, conditioner, detector and rasterizer) and returns
the label of the reference beat annotation within 150 ms of that R peak
(``N`` where the reference has none).  Streaming and offline differ only by
float rounding, so a lookup by nearest image is exact in practice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from gateway.signal.chain import beat_windows, condition
from gateway.signal.context import N_CONTEXT
from gateway.signal.rpeaks import detect_rpeaks
from gateway.signal.leads import read_record
from gateway.signal.raster import render_beats

FIXTURES = Path(__file__).parent / "fixtures" / "mitdb"
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?!")
SEED8 = ("N", "L", "R", "A", "V", "!", "E", "/")


class ReferenceClassifier:
    """``classify(images, context)`` -> the reference label of the beat each image shows (``context`` is not needed)."""

    scheme = "reference"
    version = "reference-0"

    def __init__(self, record: str, stream, labels: tuple[str, ...] = SEED8):
        path = FIXTURES / record
        rec = read_record(path)
        mv = stream.counts_to_mv(stream.mv_to_counts(rec.signal))
        y = condition(mv, rec.fs)
        peaks = detect_rpeaks(y)
        ann = wfdb.rdann(str(path), "atr")
        ref = [(s, sym) for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS]
        ref_s = np.array([s for s, _ in ref])
        self.labels = labels
        windows, kept = beat_windows(y, peaks)
        images = render_beats(windows).reshape(len(windows), -1)
        self._images = images.astype(np.int16)
        self._peak_labels = []
        for p in peaks[kept]:
            i = int(np.argmin(np.abs(ref_s - p))) if ref_s.size else -1
            sym = ref[i][1] if i >= 0 and abs(ref_s[i] - p) <= 54 else "N"
            self._peak_labels.append(sym if sym in labels else "N")
        self._exact = {image.tobytes(): label for image, label in zip(images, self._peak_labels)}

    def classify(self, images: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert images.dtype == np.uint8 and images.ndim == 3
        assert context.dtype == np.float32 and context.shape == (len(images), N_CONTEXT)
        idx = np.zeros(len(images), dtype=np.int64)
        for k, image in enumerate(images.reshape(len(images), -1)):
            label = self._exact.get(image.tobytes())
            if label is None:
                nearest = int(np.argmin(np.abs(self._images - image.astype(np.int16)).sum(axis=1)))
                label = self._peak_labels[nearest]
            idx[k] = self.labels.index(label)
        probs = np.zeros((len(images), len(self.labels)), dtype=np.float32)
        probs[np.arange(len(images)), idx] = 1.0
        return idx, probs
