"""Alert-level scoring: references derived from the annotations, and the statistics of raised alerts against them.

Pure functions on plain data (times in seconds), shared by ``bench.alerts``
(every statistic) and ``bench.vf`` (the flutter/fibrillation figures), and
specified by tests/test_bench_scoring.py on small synthetic references.

* **Reference rhythms**: a ``+`` annotation starts the rhythm named by its
  aux text, which lasts until the next ``+`` (or the record's end).
  Flutter/fibrillation is :data:`VF_RHYTHMS`, ventricular tachycardia
  :data:`VT_RHYTHMS`, AF :data:`AF_RHYTHMS`.
* **Reference ventricular runs**: 3 or more consecutive ``V`` reference beats
  (records with beat labels: mitdb, svdb).
* **Alert episodes**: a raised alert is "on" from its raise (``time``) to the
  end its clear reports (or the record's end); ``start`` is where the
  processor says the event began.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rhythm labels (aux of ``+`` annotations) that are ventricular flutter/fibrillation: vfdb writes ``(VF``,
#: ``(VFL`` and ``(VFIB`` (422, 424); MIT-BIH writes ``(VFL`` (record 207).
VF_RHYTHMS = ("(VF", "(VFL", "(VFIB")
#: Ventricular tachycardia: a VF alarm inside it is not counted false (fast VT is sine-like and as urgent).
VT_RHYTHMS = ("(VT",)
AF_RHYTHMS = ("(AFIB", "(AFL")
#: A VF alert decided up to this long after a reference episode ended still belongs to it (one analysis window).
VF_TOLERANCE_S = 4.0
SUSTAINED_S = 6.0  # a sustained VF/VFL episode lasts at least this long

Episodes = list[tuple[float, float]]


@dataclass(frozen=True)
class AlertRecord:
    """One alert as the benchmarks keep it (record seconds)."""

    type: str
    state: str  # "raised" | "cleared"
    start: float
    time: float
    end: float | None = None  # a clear: where its episode ended


def rhythms(marks: list[tuple[float, str]], length: float, names: tuple[str, ...]) -> Episodes:
    """Episodes (s) of the rhythms in ``names`` from ``+`` annotations ``(time, aux)``; adjacent ones are merged.

    A rhythm lasts from its annotation to the next rhythm annotation (or ``length``); consecutive
    annotations both in ``names`` (``(VF`` after ``(VFL``) make one episode.
    """
    out: Episodes = []
    start = None
    for t, aux in sorted(marks) + [(length, "")]:
        if aux in names and start is None:
            start = t
        elif aux not in names and start is not None:
            out.append((start, t))
            start = None
    return out


def union_length(episodes: Episodes, length: float) -> float:
    """Seconds within [0, length] covered by ``episodes`` (overlaps counted once)."""
    covered, reach = 0.0, 0.0
    for s, e in sorted((max(0.0, s), min(length, e)) for s, e in episodes):
        if e > reach:
            covered += e - max(s, reach)
            reach = e
    return covered


def alert_episodes(alerts: list[AlertRecord], kind: str, length: float) -> list[tuple[float, float, float]]:
    """(start, raised at, end) of each raised episode of ``kind``; ``end``: from its clear, else ``length``."""
    ends = sorted(a.end for a in alerts if a.type == kind and a.state == "cleared" and a.end is not None)
    out = []
    for a in alerts:
        if a.type == kind and a.state == "raised":
            out.append((a.start, a.time, next((e for e in ends if e >= a.time), length)))
    return out


# ------------------------------------------------------------------ flutter / fibrillation
@dataclass(frozen=True)
class VFEpisode:
    start: float
    end: float
    delay: float | None  # onset to the raise of the alert that covers it (0: one was on already); None: missed
    new: bool  # a new raise (not an alert already on from before the onset)

    @property
    def length(self) -> float:
        return self.end - self.start


def score_vf(reference: Episodes, alerts: list[AlertRecord], length: float, kind: str,
             tolerance: float = VF_TOLERANCE_S) -> list[VFEpisode]:
    """Each reference episode: found if an alert of ``kind`` is on at some time in [start, end + tolerance]."""
    on = alert_episodes(alerts, kind, length)
    out = []
    for s, e in reference:
        hit = [t for _, t, end in on if t <= e + tolerance and end >= s]
        first = min(hit, default=None)
        out.append(VFEpisode(s, e, None if first is None else max(0.0, first - s), first is not None and first >= s))
    return out


def false_raises(alerts: list[AlertRecord], kind: str, excused: Episodes, tolerance: float = VF_TOLERANCE_S) -> list[float]:
    """Times of raises of ``kind`` decided outside every ``excused`` episode (each extended by ``tolerance``)."""
    return [a.time for a in alerts if a.type == kind and a.state == "raised"
            and not any(s <= a.time <= e + tolerance for s, e in excused)]


def hours_outside(excused: Episodes, length: float, tolerance: float = VF_TOLERANCE_S) -> float:
    return (length - union_length([(s, e + tolerance) for s, e in excused], length)) / 3600


# ------------------------------------------------------------------ ventricular runs (EC57 run statistics)
def ventricular_runs(beats: list[tuple[float, str]], min_beats: int = 3) -> list[tuple[float, float, int]]:
    """(first, last beat time, beats) of each run of ``min_beats`` or more consecutive ``V`` reference beats."""
    runs, current = [], []
    for t, sym in beats + [(float("inf"), "")]:
        if sym == "V":
            current.append(t)
            continue
        if len(current) >= min_beats:
            runs.append((current[0], current[-1], len(current)))
        current = []
    return runs


#: EC57 run-length classes the run alert can find (it never alerts a couplet).
RUN_CLASSES = (("short runs (3-5)", 3, 5), ("long runs (>= 6)", 6, 10 ** 9))
RUN_LEAD_S = 0.5  # an alert may start this much before the run's first beat


def run_counts(runs: list[tuple[float, float, int]], alerts: list[AlertRecord], length: float,
               kind: str) -> dict[str, int]:
    """Reference runs found per class (an alert episode of ``kind`` overlaps the run), and alerts in no run.

    EC57 run sensitivity: a reference run is detected if a detected run overlaps it; run +P:
    detected runs that overlap some reference run.  Here a detected run is a raised alert episode
    (from its start to its clear's end), so a run inside an open episode counts as alerted.
    """
    eps = [(s, end) for s, _, end in alert_episodes(alerts, kind, length)]
    hit = [any(s - RUN_LEAD_S <= last and first <= end for s, end in eps) for first, last, _ in runs]
    out = {"alerts": len(eps), "alerts_true": sum(any(s - RUN_LEAD_S <= last and first <= end
                                                     for first, last, _ in runs) for s, end in eps)}
    for name, lo, hi in RUN_CLASSES:
        members = [h for (_, _, n), h in zip(runs, hit) if lo <= n <= hi]
        out[f"{name}"] = len(members)
        out[f"{name} found"] = sum(members)
    return out


# ------------------------------------------------------------------ AF (EC57 AF statistics)
def af_counts(reference: Episodes, alerts: list[AlertRecord], length: float, kind: str) -> np.ndarray:
    """bench.af's EC57 counts with the detected episodes = the raised AF alert episodes (start to clear's end)."""
    from bench.af import counts

    return counts(reference, [(s, end) for s, _, end in alert_episodes(alerts, kind, length)])


# ------------------------------------------------------------------ pauses
def reference_pauses(beats: np.ndarray, min_s: float, skip: Episodes) -> list[float]:
    """Times of reference beats followed by an RR interval > ``min_s`` that spans no ``skip`` episode."""
    return [float(a) for a, b in zip(beats[:-1], beats[1:])
            if b - a > min_s and not any(s < b and a < e for s, e in skip)]


def matched(times: list[float], reference: list[float], within: float) -> int:
    """How many of ``times`` lie within ``within`` s of some reference time."""
    return sum(any(abs(t - r) <= within for r in reference) for t in times)


def alert_rate(alerts: list[AlertRecord], length: float) -> float:
    """Raised alerts per hour of the record."""
    return sum(a.state == "raised" for a in alerts) / (length / 3600) if length > 0 else 0.0
