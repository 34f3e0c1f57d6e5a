"""Alert-level scoring of the whole stream processor over mitdb, vfdb and svdb, against references from the annotations.

    python -m bench.alerts [--db mitdb vfdb svdb] [--model PATH] [--records R ...] [--out DIR] [--reuse]
                           [--doc docs/alerts-scored.md]

Every record is streamed (1 s frames, 16-bit counts, the lead chosen by the
gateway's rule: MLII for mitdb, the first ``ECG`` for vfdb and svdb) through
one :class:`gateway.processor.StreamProcessor` with the shipped model,
exactly as ``ecg-analyze RECORD`` with no options does
(:func:`gateway.tools.analyze.analyze_record`); a record that raises is
reported as a crash (and the command exits 1).  Each record's alerts are
kept as JSON in ``--out`` (``--reuse`` scores those instead of streaming
again).  Scored, per record group (bench/scoring.py defines each reference):

* **ventricular runs** (records with beat labels): EC57 run sensitivity for
  short (3-5 beats) and long (>= 6) reference runs, run +P of the run alerts;
* **AF**: EC57 episode and duration Se/+P of the AF alert episodes against
  ``(AFIB``/``(AFL`` episodes;
* **VF/VFL episodes**: found, sustained (>= 6 s) found, delay onset -> raise;
  false VF alarms per hour outside every VF/VT episode;
* **false alerts per hour by type** (VF outside VF/VT, runs in no reference
  run, pauses without a reference RR > 3 s, asystole without a reference
  ``(ASYS`` or RR > 6 s, AF episodes overlapping no reference AF) and
  raised alerts per hour (max over records; the target is <= 40/h).

vfdb has rhythm annotations only, so its runs and pauses are counted, not
scored; svdb has beat labels but almost no rhythm annotations, so its AF and
VF alerts are counted, not scored.  ``python -m bench.vf`` writes the flutter/fibrillation part
(docs/vf.md) from the same results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from bench.af import MITDB, VFDB, stats
from bench.processor import AllNormal
from bench.scoring import (AF_RHYTHMS, RUN_CLASSES, VF_RHYTHMS, VT_RHYTHMS, AlertRecord, af_counts,
                           alert_rate, false_raises, hours_outside, matched, reference_pauses, rhythms,
                           run_counts, score_vf, ventricular_runs)
from gateway.alerts.config import AlertConfig
from gateway.alerts.types import AF, ASYSTOLE, PAUSE, RUN, VF
from gateway.processor import ProcessorConfig
from gateway.signal.rhythm import RhythmConfig
from gateway.tools.analyze import REFERENCE_BEATS, analyze_record
from training.splits import DS1, DS2

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MODEL: str | None = None
OVERRIDES: dict[str, dict] = {"rhythm": {}, "alerts": {}}  # --set: trial settings (defaults: the shipped ones)
#: vfdb records tuned on: every other record in sorted order from the first, fixed before any result was seen.
VFDB_TUNING = VFDB[::2]
VFDB_HELD_OUT = VFDB[1::2]
VF_RECORDS = ("207",)  # the MIT-BIH records with VF/VFL episodes
#: Databases whose .atr files carry rhythm annotations (svdb's have almost none: its AF, VF and VT are unscored).
RHYTHM_ANNOTATED = ("mitdb", "vfdb")


def records_of(db: str) -> tuple[str, ...]:
    if db == "mitdb":
        return MITDB
    if db == "vfdb":
        return VFDB
    return tuple(sorted(p.stem for p in (DATA / db).glob("*.hea")))


def _classifier():
    from gateway.classify.model import ModelError, load_model

    try:
        return load_model(MODEL, num_threads=1)
    except ModelError:
        return AllNormal()


def processor_config() -> ProcessorConfig:
    """``ecg-analyze``'s config (no strips), with any ``--set`` overrides."""
    return ProcessorConfig(strips=False, rhythm=replace(RhythmConfig(), **OVERRIDES["rhythm"]),
                           alerts=replace(AlertConfig(), **OVERRIDES["alerts"]))


def override(text: str) -> tuple[str, str, object]:
    """``rhythm.KEY=VALUE`` or ``alerts.KEY=VALUE`` (VALUE in JSON) -> (section, key, value)."""
    name, _, value = text.partition("=")
    section, _, key = name.partition(".")
    if section not in OVERRIDES or not key or not value:
        raise argparse.ArgumentTypeError(f"expected rhythm.KEY=VALUE or alerts.KEY=VALUE, got {text!r}")
    parsed = json.loads(value)
    return section, key, tuple(parsed) if isinstance(parsed, list) else parsed


def reference(path: Path) -> dict:
    """Rhythm marks ``(time, aux)``, reference beats ``(time, symbol)`` and the length (s) of one record."""
    import wfdb

    ann, header = wfdb.rdann(str(path), "atr"), wfdb.rdheader(str(path))
    fs = float(header.fs)
    marks = [(s / fs, aux.strip("\x00")) for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note) if sym == "+"]
    beats = [(s / fs, sym) for s, sym in zip(ann.sample, ann.symbol) if sym in REFERENCE_BEATS]
    return {"marks": marks, "beats": beats, "length": header.sig_len / fs}


def stream(args: tuple[str, str, str]) -> dict:
    """One record through the processor, as ``ecg-analyze`` with no options: its alerts and its reference."""
    db, record, out = args
    path = DATA / db / record
    classifier = _classifier()
    t = time.perf_counter()
    try:
        analysis = analyze_record(path, classifier, Path(out) / db, config=processor_config())
    except Exception as e:  # a crash is a result: reported, the other records still run
        return {"db": db, "record": record, "error": f"{type(e).__name__}: {e}", **reference(path)}
    alerts = [asdict(AlertRecord(a.type, a.state, a.start, a.time, a.end)) for a in analysis.alerts]
    return {"db": db, "record": record, "alerts": alerts, "seconds": time.perf_counter() - t,
            "model": classifier.version, **reference(path)}


def collect(dbs: list[str], records: list[str] | None, out: Path, reuse: bool) -> list[dict]:
    """Stream (or, with ``reuse``, reload) every record of ``dbs``, with a progress line per record."""
    todo = [(db, r) for db in dbs for r in records_of(db) if records is None or r in records]
    results = []
    for i, (db, record) in enumerate(todo, 1):
        cache = out / f"{db}-{record}.json"
        if reuse and cache.exists():
            res = json.loads(cache.read_text())
        else:
            res = stream((db, record, str(out)))
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(res))
        results.append(res)
        what = res.get("error") or f"{len(res['alerts'])} alerts, {res['seconds']:.0f} s"
        print(f"  [{i}/{len(todo)}] {db} {record}: {what}", flush=True)
    return results


def score(res: dict) -> dict:
    """Every statistic of one record (see the module docstring)."""
    length = res["length"]
    row = {"db": res["db"], "record": res["record"], "hours": length / 3600, "error": res.get("error"),
           "model": res.get("model")}
    if row["error"]:
        return row
    alerts = [AlertRecord(**a) for a in res["alerts"]]
    marks = [tuple(m) for m in res["marks"]]
    vf, vt = rhythms(marks, length, VF_RHYTHMS), rhythms(marks, length, VT_RHYTHMS)
    asys = rhythms(marks, length, ("(ASYS",))
    raised = [a for a in alerts if a.state == "raised"]
    row.update(counts=Counter(a.type for a in raised), rate=alert_rate(alerts, length),
               vf=score_vf(vf, alerts, length, VF), false_vf=false_raises(alerts, VF, vf + vt),
               hours_outside=hours_outside(vf + vt, length),
               af=af_counts(rhythms(marks, length, AF_RHYTHMS), alerts, length, AF))
    row["rhythms"] = res["db"] in RHYTHM_ANNOTATED
    false = {VF: len(row["false_vf"]), AF: int(row["af"][2] - row["af"][3])} if row["rhythms"] else {}
    beats = res["beats"]
    row["labelled"] = bool(beats)
    times = np.array([t for t, _ in beats])
    long_rr = reference_pauses(times, 6.0, vf) if beats else []
    false[ASYSTOLE] = sum(not (any(s - 1 <= a.start <= e for s, e in asys) or matched([a.start], long_rr, 1.0))
                          for a in raised if a.type == ASYSTOLE)
    if beats:
        runs = ventricular_runs([tuple(b) for b in beats])
        row["runs"] = run_counts(runs, alerts, length, RUN)
        pauses = reference_pauses(times, 3.0, vf)
        ours = [a.start for a in raised if a.type == PAUSE]
        row["pauses"] = (len(pauses), matched(pauses, ours, 1.0), len(ours) - matched(ours, pauses, 1.0))
        false[RUN] = row["runs"]["alerts"] - row["runs"]["alerts_true"]
        false[PAUSE] = row["pauses"][2]
    row["false"] = false
    return row


# ------------------------------------------------------------------ the report
def groups(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    def pick(db: str, names=None) -> list[dict]:
        return [r for r in rows if r["db"] == db and (names is None or r["record"] in names) and not r["error"]]

    no_vf = [r for r in pick("mitdb") if r["record"] not in VF_RECORDS]
    out = [("vfdb tuning (every other record)", pick("vfdb", VFDB_TUNING)), ("vfdb held out", pick("vfdb", VFDB_HELD_OUT)),
           (f"vfdb all {len(pick('vfdb'))}", pick("vfdb")), ("mitdb DS1 (tuning)", pick("mitdb", DS1)),
           ("mitdb DS2", pick("mitdb", DS2)), (f"mitdb all {len(pick('mitdb'))}", pick("mitdb")),
           (f"mitdb without VF ({len(no_vf)})", no_vf), (f"svdb all {len(pick('svdb'))}", pick("svdb"))]
    named, seen = [], []
    for name, g in out:  # a group with the same records as one before it (a subset run) is left out
        records = {(r["db"], r["record"]) for r in g}
        if records and records not in seen:
            named.append((name, g))
            seen.append(records)
    return named


def run_table(named: list[tuple[str, list[dict]]]) -> list[str]:
    lines = ["| records | hours | " + " | ".join(f"{c} Se" for c, *_ in RUN_CLASSES)
             + " | run Se (>= 3) | run alerts | run +P |", "|---|---|" + "---|" * (len(RUN_CLASSES) + 3)]
    for name, g in named:
        g = [r for r in g if r.get("labelled")]
        if not g:
            continue
        tot = Counter()
        for r in g:
            tot.update(r["runs"])
        cells = [f"{tot[c + ' found']}/{tot[c]} ({pct(tot[c + ' found'], tot[c])})" for c, *_ in RUN_CLASSES]
        n, f = sum(tot[c] for c, *_ in RUN_CLASSES), sum(tot[c + " found"] for c, *_ in RUN_CLASSES)
        lines.append(f"| {name} | {sum(r['hours'] for r in g):.1f} | " + " | ".join(cells)
                     + f" | {f}/{n} ({pct(f, n)}) | {tot['alerts']} | {pct(tot['alerts_true'], tot['alerts'])} |")
    return lines


def af_table(named: list[tuple[str, list[dict]]]) -> list[str]:
    lines = ["| records | reference AF episodes | AF alert episodes | episode Se | episode +P | duration Se | "
             "duration +P |", "|---|---|---|---|---|---|---|"]
    for name, g in named:
        c = sum(r["af"] for r in g if r["rhythms"])
        if any(r["rhythms"] for r in g) and (c[0] or c[2]):
            lines.append(f"| {name} | {c[0]:.0f} | {c[2]:.0f} | " + " | ".join(stats(c)) + " |")
    return lines


def vf_summary(g: list[dict]) -> dict:
    eps = [e for r in g for e in r["vf"]]
    found = [e for e in eps if e.delay is not None]
    sustained = [e for e in eps if e.length >= 6.0]
    delays = [e.delay for e in sustained if e.delay is not None]
    fresh = [e.delay for e in sustained if e.delay is not None and e.new]  # onset -> a raise of its own
    false = sum(len(r["false_vf"]) for r in g)
    outside = sum(r["hours_outside"] for r in g)
    return {"episodes": len(eps), "found": len(found), "sustained": len(sustained), "sustained_found": len(delays),
            "median": float(np.median(delays)) if delays else None, "max": max(delays, default=None),
            "fresh": len(fresh), "fresh_median": float(np.median(fresh)) if fresh else None,
            "fresh_max": max(fresh, default=None),
            "false": false, "hours_outside": outside, "false_per_h": false / outside if outside else 0.0}


def vf_table(named: list[tuple[str, list[dict]]]) -> list[str]:
    lines = ["| records | VF/VFL episodes found | sustained (>= 6 s) found | delay median / max, sustained (s) | "
             "sustained with a raise of their own: n, delay median / max (s) | hours outside VF/VT | "
             "false VF alarms | per hour | per 24 h |", "|---|---|---|---|---|---|---|---|---|"]
    for name, g in named:
        if not any(r["rhythms"] for r in g):
            continue
        s = vf_summary(g)
        delay = f"{s['median']:.1f} / {s['max']:.1f}" if s["median"] is not None else "-"
        fresh = f"{s['fresh']}, {s['fresh_median']:.1f} / {s['fresh_max']:.1f}" if s["fresh"] else "-"
        lines.append(f"| {name} | {s['found']}/{s['episodes']} ({pct(s['found'], s['episodes'])}) | "
                     f"{s['sustained_found']}/{s['sustained']} ({pct(s['sustained_found'], s['sustained'])}) | {delay} | {fresh} | "
                     f"{s['hours_outside']:.1f} | {s['false']} | {s['false_per_h']:.2f} | {24 * s['false_per_h']:.1f} |")
    return lines


def false_table(named: list[tuple[str, list[dict]]]) -> list[str]:
    kinds = (VF, RUN, PAUSE, ASYSTOLE, AF)
    lines = ["| records | hours | " + " | ".join(f"false {k} /h" for k in kinds)
             + " | raised /h (all types) | max raised /h on a record |", "|---|---|" + "---|" * (len(kinds) + 2)]
    for name, g in named:
        h = sum(r["hours"] for r in g)
        cells = []
        for k in kinds:
            have = [r for r in g if k in r["false"]]
            hours = sum(r["hours_outside" if k == VF else "hours"] for r in have)  # VF: outside VF/VT
            cells.append(f"{sum(r['false'][k] for r in have) / hours:.2f}" if have and hours else "n/a")
        worst = max(g, key=lambda r: r["rate"])
        lines.append(f"| {name} | {h:.1f} | " + " | ".join(cells) + f" | "
                     f"{sum(sum(r['counts'].values()) for r in g) / h:.1f} | {worst['rate']:.0f} ({worst['record']}) |")
    return lines


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def crashes(rows: list[dict]) -> list[str]:
    bad = [f"{r['db']} {r['record']}: {r['error']}" for r in rows if r["error"]]
    return ["Records that crashed: " + ("; ".join(bad) if bad else f"none of {len(rows)}") + "."]


def worst_records(rows: list[dict], n: int = 8) -> list[str]:
    lines = ["| record | raised /h | raised, by type |", "|---|---|---|"]
    for r in sorted((r for r in rows if not r["error"]), key=lambda r: -r["rate"])[:n]:
        lines.append(f"| {r['db']} {r['record']} | {r['rate']:.0f} | "
                     + ", ".join(f"{k} {v}" for k, v in r["counts"].most_common()) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    global MODEL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="*", default=["mitdb", "vfdb", "svdb"])
    parser.add_argument("--tuning", action="store_true", help="only the tuning records (vfdb every other, mitdb DS1)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--records", nargs="*", default=None)
    parser.add_argument("--out", default="/tmp/ecg-bench-alerts", help="annotation files and per-record JSON")
    parser.add_argument("--reuse", action="store_true", help="score the JSON already in --out where present")
    parser.add_argument("--set", type=override, action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a trial setting, e.g. rhythm.concentration_min=0.8 or alerts.vf_clear_windows=5")
    parser.add_argument("--doc", default=str(REPO / "docs" / "alerts-scored.md"))
    args = parser.parse_args(argv)
    MODEL = args.model
    for section, key, value in args.set:
        OVERRIDES[section][key] = value
    t0 = time.perf_counter()
    records = list(VFDB_TUNING + DS1) if args.tuning else args.records
    rows = [score(r) for r in collect(args.db, records, Path(args.out), args.reuse)]
    model = next((r["model"] for r in rows if r["model"]), "-")
    named = groups(rows)
    command = " ".join(["python -m bench.alerts", *(sys.argv[1:] if argv is None else argv)])
    lines = ["# Alert-level scoring of the stream processor", "",
             f"Made by `{command}` (model {model}, every record as `ecg-analyze RECORD` with no options; "
             f"wall time {time.perf_counter() - t0:.0f} s). References and rules: bench/alerts.py, bench/scoring.py.",
             "", *crashes(rows), "", "## Ventricular runs (EC57 run statistics)", "", *run_table(named),
             "", "## Atrial fibrillation (EC57 AF statistics, alert episodes)", "", *af_table(named),
             "", "## Ventricular flutter/fibrillation episodes", "", *vf_table(named),
             "", "## False alerts per hour by type", "", *false_table(named),
             "", "## Records with the most raised alerts", "", *worst_records(rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.doc).write_text(text, encoding="utf-8")
    print(f"wrote {args.doc}")
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
