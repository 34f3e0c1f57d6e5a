"""What the whole stream processor raises over the 48 MIT-BIH records, against the reference.

    python -m bench.alerts [--data ../shared/data/mitdb] [--model PATH] [--workers 2] [--doc docs/alerts-mitdb.md]

Every record's preferred lead is streamed (1 s frames, 16-bit counts)
through one :class:`gateway.processor.StreamProcessor`, as ``ecg-analyze``
does.  Printed per record: the raised alerts by type; and scored against
the reference annotations:

* pauses: reference RR intervals > 3 s (beat annotations) vs raised
  ``pause`` alerts (a pause alert matches a reference pause if its start
  lies within 1 s of the beat that begins it);
* ventricular runs: reference runs of 3 or more consecutive ``V`` beats vs
  raised ``ventricular_run`` alerts (a run is found if an alert starts
  within 0.5 s before its first beat or during it; an alert that starts in
  no reference run is a false one);
* flutter: reference ``(VFL`` episodes vs ``ventricular_fibrillation`` alerts
  (an episode is found if an alert is active, raised and not yet cleared,
  at some time during it or within 4 s after it; an alert raised outside
  every episode is a false one).  RR intervals spanning a flutter episode
  are not counted as reference pauses (flutter has no beat labels).

Beat-label alerts (PVCs, runs, patterns, APBs) depend on the classifier:
with a model they measure the model; without one a stand-in labels every
beat N, and only the signal-driven alerts (pause, asystole, rate, flutter,
quality) are meaningful -- the output says which.  The shipped models
learnt from all 48 records, so for the ventricular runs of patients a model
has not seen, pass the inter-patient model and the DS2 records::

    ecg-convert runs/aami5-inter --out /tmp/inter --name aami5-inter
    python -m bench.alerts --model /tmp/inter/aami5-inter.tflite --records <DS2> --doc docs/alerts-ds2.md
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.processor import AllNormal
from bench.vf import DS1, DS2, RECORDS, reference_episodes
from gateway.alerts.types import PAUSE, RUN, VF
from gateway.tools.analyze import REFERENCE_BEATS, analyze_record

MODEL: str | None = None


def _classifier():
    from gateway.classify.model import ModelError, load_model

    try:
        return load_model(MODEL, num_threads=1)
    except ModelError:
        return AllNormal()


def run(args: tuple[str, str, str]) -> dict:
    data, record, out = args
    import wfdb

    path = Path(data) / record
    classifier = _classifier()
    t = time.perf_counter()
    analysis = analyze_record(path, classifier, out)
    seconds = time.perf_counter() - t
    raised = [a for a in analysis.alerts if a.state == "raised"]
    ann = wfdb.rdann(str(path), "atr")
    ref = [(s / ann.fs, sym) for s, sym in zip(ann.sample, ann.symbol) if sym in REFERENCE_BEATS]
    beats = np.array([t for t, _ in ref])
    ref_runs = ventricular_runs(ref)
    our_runs = alert_episodes(analysis.alerts, RUN, analysis.duration)  # a run inside an open episode is alerted
    found_runs = sum(any(q0 - 0.5 <= e and s <= q1 for q0, q1 in our_runs) for s, e in ref_runs)
    false_runs = sum(not any(q0 - 0.5 <= e and s <= q1 for s, e in ref_runs) for q0, q1 in our_runs)
    episodes = reference_episodes(str(path))
    ref_pauses = [float(a) for a, b in zip(beats[:-1], beats[1:])  # flutter has no beat labels: not a pause
                  if b - a > 3.0 and not any(s < b and a < e for s, e in episodes)]
    our_pauses = [a.start for a in raised if a.type == PAUSE]
    found_pauses = sum(any(abs(p - q) <= 1.0 for q in our_pauses) for p in ref_pauses)
    false_pauses = sum(not any(abs(p - q) <= 1.0 for q in ref_pauses) for p in our_pauses)
    vf_times = [a.time for a in raised if a.type == VF]
    active = [(t, e) for t, (_, e) in zip(vf_times, alert_episodes(analysis.alerts, VF, analysis.duration))]
    found_vf = sum(any(t0 <= e + 4 and s <= t1 for t0, t1 in active) for s, e in episodes)
    false_vf = sum(not any(s <= t <= e + 4 for s, e in episodes) for t in vf_times)
    return dict(record=record, counts=Counter(a.type for a in raised), ref_pauses=len(ref_pauses),
                found_pauses=found_pauses, false_pauses=false_pauses, episodes=len(episodes), found_vf=found_vf,
                vf_alerts=len(vf_times), false_vf=false_vf, ref_runs=len(ref_runs), found_runs=found_runs,
                run_alerts=len(our_runs), false_runs=false_runs, hours=analysis.duration / 3600, seconds=seconds,
                model=classifier.version)


def alert_episodes(alerts: list, kind: str, duration: float) -> list[tuple[float, float]]:
    """(start, end) of each raised episode of ``kind``: its raise to the end its clear reports (or the record's end)."""
    ends = [a.end for a in alerts if a.type == kind and a.state == "cleared"]
    return [(a.start, min([e for e in ends if e >= a.start], default=duration))
            for a in alerts if a.type == kind and a.state == "raised"]


def ventricular_runs(beats: list[tuple[float, str]], min_beats: int = 3) -> list[tuple[float, float]]:
    """(first, last) beat time of each run of ``min_beats`` or more consecutive ``V`` reference beats."""
    runs, current = [], []
    for t, sym in beats + [(float("inf"), "")]:
        if sym == "V":
            current.append(t)
            continue
        if len(current) >= min_beats:
            runs.append((current[0], current[-1]))
        current = []
    return runs


def main(argv: list[str] | None = None) -> int:
    global MODEL
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(root / ".." / "shared" / "data" / "mitdb"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--records", nargs="*", default=RECORDS)
    parser.add_argument("--out", default="/tmp/ecg-bench-alerts", help="where the .ecg annotation files go")
    parser.add_argument("--doc", default=str(root / "docs" / "alerts-mitdb.md"))
    args = parser.parse_args(argv)
    MODEL = args.model
    t0 = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=min(2, args.workers)) as pool:
        for row in pool.map(run, [(args.data, r, args.out) for r in args.records]):
            rows.append(row)
            print(f"  {row['record']}: {dict(row['counts'])}  ({row['seconds']:.1f} s)", flush=True)
    model = rows[0]["model"] if rows else "-"
    note = ("every beat labelled N by a stand-in (no model shipped yet): only signal-driven alerts are meaningful"
            if model == "stand-in" else f"model {model}")
    types = sorted({t for r in rows for t in r["counts"]})
    lines = ["# Alerts raised over MIT-BIH by the whole stream processor", "",
             f"Made by `{' '.join(['python -m bench.alerts', *(sys.argv[1:] if argv is None else argv)])}` "
             f"({note}); 1 s frames; wall time {time.perf_counter() - t0:.0f} s.",
             "", "| record | " + " | ".join(types) + " |", "|---|" + "---|" * len(types)]
    for r in rows:
        lines.append(f"| {r['record']} | " + " | ".join(str(r["counts"].get(t, "")) for t in types) + " |")
    hours = sum(r["hours"] for r in rows)
    lines.append("| **all** | " + " | ".join(str(sum(r["counts"].get(t, 0) for r in rows)) for t in types) + " |")
    lines += ["", "## Scored against the reference", "",
              "| records | hours | reference pauses > 3 s | found | pause alerts without one | (VFL episodes | "
              "found | flutter alerts | outside any episode | reference V runs >= 3 | found | run alerts | "
              "in no reference run |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, group in (("DS1", DS1), ("DS2", DS2), ("all", RECORDS)):
        g = [r for r in rows if r["record"] in group]
        if g:
            h = sum(r["hours"] for r in g)
            lines.append(f"| {name} | {h:.1f} | {sum(r['ref_pauses'] for r in g)} | "
                         f"{sum(r['found_pauses'] for r in g)} | {sum(r['false_pauses'] for r in g)} | "
                         f"{sum(r['episodes'] for r in g)} | {sum(r['found_vf'] for r in g)} | "
                         f"{sum(r['vf_alerts'] for r in g)} | {sum(r['false_vf'] for r in g)} | "
                         f"{sum(r['ref_runs'] for r in g)} | {sum(r['found_runs'] for r in g)} | "
                         f"{sum(r['run_alerts'] for r in g)} | {sum(r['false_runs'] for r in g)} |")
    false = [f"{r['record']} ({r['false_pauses']})" for r in rows if r["false_pauses"]]
    lines += ["", f"Pause alerts without a reference pause (R-peak detector misses, mostly in stretches the "
              f"reference marks noisy or unreadable): {', '.join(false) or 'none'}. Total {hours:.1f} h.",
              "", "Reference ventricular runs without an alert: "
              + (", ".join(f"{r['record']} ({r['ref_runs'] - r['found_runs']} of {r['ref_runs']})"
                           for r in rows if r["found_runs"] < r["ref_runs"]) or "none") + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.doc).write_text(text, encoding="utf-8")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
