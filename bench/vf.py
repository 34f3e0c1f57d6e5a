"""Flutter/fibrillation alerts of the whole stream processor on vfdb and MIT-BIH, and the alerts per hour.

    python -m bench.vf [--out DIR] [--reuse] [--doc docs/vf.md]

Streams every vfdb record (its first lead, ``ECG``, by the gateway's lead
rule) and all 48 MIT-BIH records (MLII) through the processor with the
shipped model, as ``ecg-analyze`` with no options does (the streaming,
caching and scoring are bench/alerts.py's and bench/scoring.py's; with
``--reuse`` and the same ``--out`` it scores a ``python -m bench.alerts``
run without streaming again).  Written to docs/vf.md:

* every VF/VFL reference episode (``(VF``, ``(VFL``, ``(VFIB``; MIT-BIH
  207's ``(VFL``): found or not, and the delay from its onset to the raise
  of the VF alert that covers it (0 when one was already on: flutter bursts
  a few seconds apart are one alarm episode);
* Se for all episodes and for those >= 6 s, median and max delay;
* false VF alarms: raises decided outside every VF/VFL and ``(VT`` episode
  (each extended by 4 s), per hour of the time outside them, on vfdb and on
  the 47 MIT-BIH records without VF;
* raised alerts per hour per record (target <= 40/h on every record).

The tuning records (vfdb every other record in sorted order, 418 420 ...,
and MIT-BIH DS1) were fixed before any result was seen; the other vfdb
records are reported separately as held out, beside the pooled figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.alerts import REPO, VFDB_TUNING, collect, groups, score, vf_summary, vf_table, worst_records
from gateway.alerts.config import AlertConfig
from gateway.signal.rhythm import RhythmConfig


def episode_table(rows: list[dict]) -> list[str]:
    lines = ["| record | set | episode (s) | length (s) | found | delay (s) | new raise |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        for e in r.get("vf", []):
            where = "tuning" if r["db"] == "mitdb" or r["record"] in VFDB_TUNING else "held out"
            lines.append(f"| {r['db']} {r['record']} | {where} | {e.start:.1f}-{e.end:.1f} | {e.length:.1f} | "
                         + ("yes" if e.delay is not None else "NO") + " | "
                         + (f"{e.delay:.1f} | {'yes' if e.new else 'on already'} |" if e.delay is not None else "- | - |"))
    return lines


def false_list(rows: list[dict]) -> list[str]:
    bad = [f"{r['db']} {r['record']} at {', '.join(f'{t:.0f}' for t in r['false_vf'])} s"
           for r in rows if r.get("false_vf")]
    return ["False VF alarms (raise time, record seconds): " + ("; ".join(bad) if bad else "none") + "."]


def rate_lines(rows: list[dict]) -> list[str]:
    ok = [r for r in rows if not r["error"]]
    over = [r for r in ok if r["rate"] > 40]
    return [f"Raised alerts per hour: max {max(r['rate'] for r in ok):.0f} over {len(ok)} records; "
            f"{len(over)} above 40/h" + (f" ({', '.join(r['db'] + ' ' + r['record'] for r in over)})" if over else "")
            + ".", "", *worst_records(rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/ecg-bench-alerts", help="annotation files and per-record JSON")
    parser.add_argument("--reuse", action="store_true", help="score the JSON already in --out where present")
    parser.add_argument("--doc", default=str(REPO / "docs" / "vf.md"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = [score(r) for r in collect(["vfdb", "mitdb"], None, Path(args.out), args.reuse)]
    named = groups(rows)
    rc, ac = RhythmConfig(), AlertConfig()
    s = vf_summary([r for r in rows if r["db"] == "vfdb" and not r["error"]])
    command = " ".join(["python -m bench.vf", *(sys.argv[1:] if argv is None else argv)])
    lines = ["# Ventricular flutter/fibrillation alerts on vfdb and MIT-BIH", "",
             f"Made by `{command}` (wall time {time.perf_counter() - t0:.0f} s): every vfdb record and all 48 "
             "MIT-BIH records streamed through `gateway.processor.StreamProcessor` with the shipped model, as "
             "`ecg-analyze RECORD` does with no options. Detector (`RhythmConfig`): "
             f"{rc.window_s:g} s windows every {rc.step_s:g} s, leakage < {rc.leakage_max}, "
             f"{rc.band_hz[0]:g}-{rc.band_hz[1]:g} Hz concentration > {rc.concentration_min}, peak-to-peak >= "
             f"{rc.min_ptp_mv} mV, {rc.confirm} consecutive windows; alert rule: `vf_clear_windows` = "
             f"{ac.vf_clear_windows}, `episode_merge_s` = {ac.episode_merge_s:g}.", "",
             "Reference: VF/VFL = rhythm annotations `(VF`, `(VFL`, `(VFIB` (adjacent ones are one episode); VT = "
             "`(VT`. An episode is found if a VF alert is on (from its raise to the end its clear reports) at some "
             "time from its onset to 4 s after its end; the delay is onset to that raise (0 if it was on already). "
             "A false VF alarm is a raise outside every VF/VFL/VT episode (+ 4 s); its rate is per hour of the time "
             "outside them. Tuning set: vfdb every other record in sorted order (418 420 422 424 426 428 430 "
             "605 609 611 614) and MIT-BIH DS1, fixed before any result was seen; the other vfdb records are held out.",
             "", "## Summary", "", *vf_table(named), "",
             f"vfdb pooled: sustained episodes found {s['sustained_found']}/{s['sustained']}, median delay "
             + (f"{s['median']:.1f} s" if s["median"] is not None else "-")
             + f"; {s['false']} false VF alarms in {s['hours_outside']:.1f} h outside VF/VT.",
             "", *false_list(rows), "", "## Alerts per hour", "", *rate_lines(rows),
             "", "## Every reference episode", "", *episode_table(rows)]
    notes = REPO / "docs" / "vf-notes.md"
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.doc).write_text(text, encoding="utf-8")
    print(f"wrote {args.doc}")
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
