"""The calibration page's work: beat clusters of a stretch of a patient's recording, labels, the adaptation.

The console reads the gateway's recordings when it runs on the same
machine (``recordings_dir``: the gateway's ``recording.dir``, records
``<dir>/<patient>/<start>.hea``).  Clustering, writing the labelled beats
and fitting run as subprocesses (``python -m gateway.tools.clusters``,
``ecg-adapt``), so the console loads none of numpy, scipy or the model.
Each calibration lives in ``<state_dir>/calibration/<token>/``: the
clusters, who asked for which patient, and the annotation file of the
labelled beats (``<record>.cal`` beside links to the record), which
``ecg-adapt RECORD --annotator cal --from S --to S --out
<adaptation_dir>/<patient>.npz`` fits the patient's adaptation from; the
gateway loads it from its ``[model] adaptation_dir``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .analysis import AnalysisError, run_tool

ANNOTATOR = "cal"
RECORD_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Recording:
    name: str
    seconds: float
    start: str  # as the header says (time and date), or ""


def recordings(root: str, patient: str) -> list[Recording]:
    """The patient's records, newest first, from their WFDB headers (read as text)."""
    folder = Path(root) / patient if root else None
    if folder is None or not folder.is_dir():
        return []
    found = []
    for hea in sorted(folder.glob("*.hea"), reverse=True):
        try:
            first = hea.read_text().splitlines()[0].split()
            seconds = int(first[3]) / float(first[2].split("/")[0])
        except (OSError, IndexError, ValueError):
            continue
        found.append(Recording(hea.stem, seconds, " ".join(first[4:6])))
    return found


class Calibrations:
    def __init__(self, state_dir: str, recordings_dir: str, adaptation_dir: str):
        self.root = Path(state_dir) / "calibration"
        self.recordings_dir, self.adaptation_dir = recordings_dir, adaptation_dir

    async def cluster(self, user: str, patient: str, record: str, start: float, stop: float) -> str:
        if not self.recordings_dir:
            raise AnalysisError("recordings_dir is not configured: the console cannot read the gateway's recordings")
        if not RECORD_NAME.fullmatch(record) or record not in {r.name for r in recordings(self.recordings_dir,
                                                                                          patient)}:
            raise AnalysisError(f"no recording {record!r} of {patient}")
        token = secrets.token_urlsafe(16)
        folder = self.root / token
        folder.mkdir(parents=True)
        path = Path(self.recordings_dir) / patient / record
        try:
            await run_tool([sys.executable, "-m", "gateway.tools.clusters", "clusters", str(path), "--from",
                            f"{start:g}", "--to", f"{stop:g}", "--out", str(folder / "clusters.json")], folder,
                           "the clustering")
        except AnalysisError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        (folder / "owner.json").write_text(json.dumps({"user": user, "patient": patient}))
        return token

    def find(self, token: str, user: str, patient: str) -> dict | None:
        """The clusters of a calibration of ``user`` for ``patient`` (None otherwise)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{10,64}", token):
            return None
        folder = self.root / token
        try:
            owner = json.loads((folder / "owner.json").read_text())
            found = json.loads((folder / "clusters.json").read_text())
        except (OSError, ValueError):
            return None
        return found if owner == {"user": user, "patient": patient} else None

    async def fit(self, token: str, patient: str, found: dict, labels: dict[int, str]) -> str:
        """Write the labelled beats, then fit the adaptation with ecg-adapt; a sentence for the page."""
        folder = self.root / token
        spec = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        wrote = await run_tool([sys.executable, "-m", "gateway.tools.clusters", "label", str(folder / "clusters.json"),
                                "--labels", spec, "--annotator", ANNOTATOR, "--dir", str(folder / "labels")], folder,
                               "writing the labels")
        wrote = wrote.replace(str(folder) + "/", "")
        record = folder / "labels" / Path(found["record"]).name
        if not self.adaptation_dir:
            return f"{wrote}. adaptation_dir is not configured: no adaptation was fitted."
        out = Path(self.adaptation_dir) / f"{patient}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        fitted = await run_tool([sys.executable, "-m", "gateway.tools.adapt", str(record), "--annotator", ANNOTATOR, "--from", f"{found['from']:g}", "--to",
                                 f"{found['to']:g}", "--patient", patient, "--out", str(out)], folder, "ecg-adapt")
        return f"{wrote}. {fitted} The gateway loads {out} from its adaptation_dir."
