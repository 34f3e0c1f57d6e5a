"""The analysis page's work: an uploaded recording -> ``ecg-analyze ... --report`` in a subprocess.

The report runs in its own process (``python -m gateway.tools.analyze``) so
the console never loads the model, numpy's signal chain or a long record
into its own memory, and one report at a time runs (a Pi has few cores).
Uploads land in a fresh directory under ``<state_dir>/analysis/<token>``
with their names reduced to safe characters; the report is kept there,
served only to the user who asked for it.  Formats (item 2 of issue #15):
a WFDB record (``.hea`` with its ``.dat``), EDF/EDF+ (``.edf``), CSV of mV
with a declared rate (``.csv``).  A bad file gets ``ecg-analyze``'s own
one-line error.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

#: The longest a report may take (a day-long Holter record on a Pi takes minutes).
TIMEOUT_S = 900.0
SAFE = re.compile(r"[^A-Za-z0-9._-]")


class AnalysisError(ValueError):
    """Why an upload gave no report, in one line for the page."""


@dataclass(frozen=True)
class Report:
    token: str
    name: str
    summary: str
    path: Path


def safe_name(name: str) -> str:
    base = SAFE.sub("_", Path(name).name).lstrip(".")
    if not base:
        raise AnalysisError(f"{name!r} is not a usable file name")
    return base


def choose_input(names: list[str], rate: str | None) -> tuple[str, list[str]]:
    """The file to hand to ecg-analyze and its extra arguments, from the uploaded names."""
    suffixes = {Path(n).suffix.lower(): n for n in names}
    if ".hea" in suffixes:
        hea = suffixes[".hea"]
        return str(Path(hea).with_suffix("")), []
    if ".edf" in suffixes:
        return suffixes[".edf"], []
    if ".csv" in suffixes:
        try:
            hz = float(rate or "")
        except ValueError:
            raise AnalysisError("a CSV file needs its sample rate (Hz)") from None
        if not 50 <= hz <= 10_000:
            raise AnalysisError(f"sample rate {hz:g} Hz: expected 50..10000")
        return suffixes[".csv"], ["--rate", f"{hz:g}"]
    if ".dat" in suffixes:
        raise AnalysisError("a WFDB record needs its .hea header too (upload both files)")
    raise AnalysisError("expected a WFDB record (.hea + .dat), an .edf or a .csv file")


async def run_tool(command: list[str], cwd: Path, what: str, timeout: float = TIMEOUT_S) -> str:
    """Run one of the project's commands; its last line of output, or its last error line as AnalysisError."""
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE, cwd=cwd)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise AnalysisError(f"{what} took longer than {timeout:g} s") from None
    if process.returncode != 0:
        lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        message = lines[-1] if lines else f"{Path(command[0]).name} exited with {process.returncode}"
        raise AnalysisError(message.replace(str(cwd) + "/", ""))
    lines = stdout.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


class Analyses:
    def __init__(self, state_dir: str | Path):
        self.root = Path(state_dir) / "analysis"
        self._one_at_a_time = asyncio.Lock()

    def new_dir(self) -> tuple[str, Path]:
        token = secrets.token_urlsafe(16)
        path = self.root / token
        path.mkdir(parents=True)
        return token, path

    def discard(self, token: str) -> None:
        shutil.rmtree(self.root / token, ignore_errors=True)

    async def run(self, token: str, user: str, names: list[str], rate: str | None) -> Report:
        """Make the report of the files already saved in ``token``'s directory."""
        folder = self.root / token
        target, extra = choose_input(names, rate)
        out = folder / "report.html"
        command = [sys.executable, "-m", "gateway.tools.analyze", str(folder / target), "--report", str(out), *extra]
        async with self._one_at_a_time:
            summary = await run_tool(command, folder, "the report")
        summary_text = summary.replace(str(out), "the report")
        (folder / "owner.json").write_text(json.dumps({"user": user, "name": Path(target).name,
                                                       "summary": summary_text}))
        return Report(token, Path(target).name, summary_text, out)

    def find(self, token: str, user: str) -> Report | None:
        """A report of ``user`` (None for an unknown token or another user's)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{10,64}", token):
            return None
        folder = self.root / token
        try:
            meta = json.loads((folder / "owner.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("user") != user:
            return None
        return Report(token, meta["name"], meta["summary"], folder / "report.html")
