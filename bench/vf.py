"""Validate the flutter/fibrillation detector over all 48 MIT-BIH records.

    python -m bench.vf [--data ../shared/data/mitdb] [--doc docs/vf.md] [--workers 2]

Each record's preferred lead goes through the gateway's conditioner and
:class:`gateway.signal.rhythm.VFDetector` (the signal-only detector; the
processor can confirm a window earlier when the classifier labels flutter
waves ``!``, which this benchmark leaves out).  Reference: the ``(VFL``
rhythm episodes of the ``.atr`` files (only record 207 has any).  Printed
and written to the doc:

* each episode: detected or not, and the delay from its onset to the end of
  the first confirmed window (signal time; the live alarm adds the
  conditioner delay and the lead-check block, see docs/alerts.md);
* false alarms: confirmed detections that start outside every reference
  episode (an episode's tail counts as inside for one window length),
  per record and per hour, for DS1 (where the thresholds were chosen), DS2
  and all records;
* a sweep of the two chosen thresholds on DS1 only, showing why they were
  chosen (the leakage threshold is Kuo & Dillman's published 0.625).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.signal.chain import condition
from gateway.signal.leads import read_record
from gateway.signal.rhythm import RhythmConfig, RhythmWindow, detect_vf
from gateway.signal.spec import MODEL_FS
from training.splits import DS1, DS2, PACED

RECORDS = sorted(DS1 + DS2 + PACED)


def reference_episodes(path: str) -> list[tuple[float, float]]:
    """``(VFL`` episodes of a record, seconds."""
    from training.reference import rhythm_episodes

    return [(a / MODEL_FS, b / MODEL_FS) for a, b in rhythm_episodes(path)]


def analyse(args: tuple[str, str]) -> tuple[str, list[RhythmWindow], list[tuple[float, float]], float, float]:
    data, record = args
    path = str(Path(data) / record)
    rec = read_record(path)
    t = time.perf_counter()
    windows = detect_vf(condition(rec.signal, rec.fs))
    return record, windows, reference_episodes(path), rec.signal.size / rec.fs, time.perf_counter() - t


def decide(windows: list[RhythmWindow], config: RhythmConfig) -> tuple[list[float], list[float]]:
    """(onsets, confirmed): end times (s) of the windows where a detection starts / holds under ``config``."""
    onsets, confirmed, run = [], [], 0
    for w in windows:
        like = w.leakage < config.leakage_max and w.concentration > config.concentration_min \
            and w.ptp >= config.min_ptp_mv
        run = run + 1 if like else 0
        if run >= config.confirm:
            confirmed.append(w.end / MODEL_FS)
            if run == config.confirm:
                onsets.append(w.end / MODEL_FS)
    return onsets, confirmed


def score(results, config: RhythmConfig, records: list[str]):
    """(episode rows, false alarms per record, hours) for ``records``."""
    episodes, false, hours = [], {}, 0.0
    for record, windows, ref, duration, _ in results:
        if record not in records:
            continue
        hours += duration / 3600
        onsets, confirmed = decide(windows, config)
        false[record] = sum(not any(a < t <= b + config.window_s for a, b in ref) for t in onsets)
        for a, b in ref:
            hits = [t for t in confirmed if a < t <= b + config.window_s]
            episodes.append((record, a, b, hits[0] - a if hits else None))
    return episodes, false, hours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mitdb"))
    parser.add_argument("--doc", default=str(Path(__file__).resolve().parents[1] / "docs" / "vf.md"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--records", nargs="*", default=RECORDS)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(2, args.workers)) as pool:
        results = []
        for r in pool.map(analyse, [(args.data, rec) for rec in args.records]):
            results.append(r)
            print(f"  {r[0]}: {len(r[1])} windows, {sum(w.vf for w in r[1])} confirmed, {r[4]:.1f} s", flush=True)
    wall = time.perf_counter() - t0
    config = RhythmConfig()
    lines = ["# Ventricular flutter/fibrillation detector on MIT-BIH", "",
             "Made by `python -m bench.vf` (all 48 records, the preferred lead through the gateway's conditioner "
             f"and `gateway.signal.rhythm.VFDetector` with its defaults: {config.window_s:g} s windows every "
             f"{config.step_s:g} s, leakage < {config.leakage_max}, {config.band_hz[0]:g}-{config.band_hz[1]:g} Hz "
             f"concentration > {config.concentration_min}, peak-to-peak >= {config.min_ptp_mv} mV, "
             f"{config.confirm} consecutive windows). Wall time {wall:.0f} s on this machine.", "",
             "## Reference episodes (`(VFL` in the .atr files)", "",
             "| record | episode (s) | length (s) | detected | delay from onset (s) |", "|---|---|---|---|---|"]
    episodes, _, _ = score(results, config, RECORDS)
    for record, a, b, delay in episodes:
        lines.append(f"| {record} | {a:.1f}-{b:.1f} | {b - a:.1f} | {'yes' if delay is not None else 'NO'} | "
                     + (f"{delay:.1f} |" if delay is not None else "- |"))
    found = [d for *_, d in episodes if d is not None]
    lines += ["", f"Detected {len(found)} of {len(episodes)} episodes"
              + (f"; delay median {np.median(found):.1f} s, max {max(found):.1f} s." if found else "."), "",
              "## False alarms (detections starting outside every reference episode)", "",
              "| records | hours | false alarms | per hour | records with false alarms |", "|---|---|---|---|---|"]
    for name, group in (("DS1 (tuning)", DS1), ("DS2", DS2), ("paced", PACED), ("all 48", RECORDS)):
        _, false, hours = score(results, config, [r for r in group if r in args.records])
        if hours:
            lines.append(f"| {name} | {hours:.1f} | {sum(false.values())} | {sum(false.values()) / hours:.3f} | "
                         f"{', '.join(f'{r} ({n})' for r, n in false.items() if n) or '-'} |")
    lines += ["", "## Threshold choice (DS1 only)", "",
              "| concentration > | confirm windows | DS1 episodes found | DS1 median delay (s) | DS1 false alarms |",
              "|---|---|---|---|---|"]
    for conc in (0.65, 0.7, 0.75, 0.8):
        for confirm in (1, 2, 3):
            trial = replace(config, concentration_min=conc, confirm=confirm)
            eps, false, _ = score(results, trial, DS1)
            delays = [d for *_, d in eps if d is not None]
            mark = " (chosen)" if (conc, confirm) == (config.concentration_min, config.confirm) else ""
            lines.append(f"| {conc}{mark} | {confirm} | {len(delays)}/{len(eps)} | "
                         f"{np.median(delays) if delays else float('nan'):.1f} | {sum(false.values())} |")
    lines += ["", "Why 0.75 and 2 windows: a single window fires false alarms on DS1 up to a concentration of 0.75, "
              "so a one-window rule at 0.8 would sit right at the edge; two consecutive windows keep DS1 free of "
              "false alarms from 0.75 up, with margin, at the cost of 0.5-1 s more delay.",
              "", "Caveat: all reference flutter episodes are in record 207, which is in DS1, so the detection "
              "figures are on the records the thresholds were chosen on; only the false-alarm figures of DS2 "
              "and the paced records are out of sample. MIT-BIH has no ventricular fibrillation proper; the "
              "detector's features (sine-likeness and 2.5-8 Hz concentration) describe coarse VF as well, but "
              "a VF database (e.g. the CU or MIT-BIH Malignant Ventricular Arrhythmia databases) should be "
              "used to validate it before any clinical claim."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.doc).write_text(text, encoding="utf-8")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
