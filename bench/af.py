"""Benchmark the AF detector with EC57's AF statistics on MIT-BIH and the MIT-BIH Malignant Ventricular Ectopy DB.

    python -m bench.af [--mitdb ../shared/data/mitdb] [--vfdb ../shared/data/vfdb] [--doc docs/af.md] [--workers 2]

Every record goes through the gateway's own chain: the lead chosen by name
(:func:`gateway.signal.leads.read_record`; vfdb names both leads ``ECG``, so
its first lead, signal 0, is taken by that name), the conditioner
(:func:`gateway.signal.chain.condition`, 360 Hz), the R-peak detector
(:func:`gateway.signal.rpeaks.detect_rpeaks`) and :func:`gateway.signal.af.af_episodes`
over the whole record as one segment, with its defaults:

* **RR only** (the figures that count): no beat labels;
* **with reference labels**: each detected beat carries the symbol of the
  reference beat within 150 ms (none if unmatched), so V, E, F beats are left
  out as a perfect ventricular-beat classifier would make them: an upper bound
  for the gateway, whose classifier finds ventricular beats with Se 95 %,
  +P 78 % on unseen patients.

Reference AF: from a ``(AFIB`` or ``(AFL`` rhythm annotation to the next
other rhythm annotation (or the record's end).  Statistics (EC57:2012 AF
section, as WFDB's ``epicmp`` computes them), per record and summed over
records (gross): episode Se = reference episodes that overlap a detected
episode / reference episodes; episode +P = detected episodes that overlap a
reference episode / detected episodes; duration Se = time in both / reference
AF time; duration +P = time in both / detected AF time.  Also an
``EC57 strict`` line: ``epicmp``'s defaults, reference ``(AFIB`` only (AF
detected in flutter counts against +P) and the first 5 minutes left out.

Thresholds were chosen on DS1 only (AF in 201 and 203); DS2, the paced
records (102 104 107 217; 217 has AF) and vfdb (AF in 423 609 615) were
held out and are reported once, separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.signal.af import AFConfig, af_episodes
from gateway.signal.spec import MODEL_FS
from training.splits import DS1, DS2, PACED

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MITDB = tuple(sorted(DS1 + DS2 + PACED))
VFDB = tuple("418 419 420 421 422 423 424 425 426 427 428 429 430 602 605 607 609 610 611 612 614 615".split())
GROUPS = (("DS1 (tuning)", DS1), ("DS2 (test)", DS2), ("paced (held out)", PACED), ("vfdb (held out)", VFDB),
          ("MIT-BIH DS1+DS2", DS1 + DS2), ("MIT-BIH all 48", MITDB))
AF_RHYTHMS = ("(AFIB", "(AFL")
LEARNING_S = 300.0  # epicmp's default: the first 5 minutes are not compared
ONSET_GAP_S = 60.0  # a reference episode after this long without AF is an onset (for the delay)

Episodes = list[tuple[float, float]]


def rhythm_episodes(path: str, names: tuple[str, ...]) -> tuple[Episodes, float]:
    """Episodes (s) from a rhythm in ``names`` to the next other rhythm annotation; the record's length (s)."""
    import wfdb

    ann, header = wfdb.rdann(path, "atr"), wfdb.rdheader(path)
    out, start = [], None
    for sample, symbol, aux in zip(ann.sample, ann.symbol, ann.aux_note):
        if symbol != "+":
            continue
        here = aux.strip("\x00")
        if here in names and start is None:
            start = sample / header.fs
        elif here not in names and start is not None:
            out.append((start, sample / header.fs))
            start = None
    length = header.sig_len / header.fs
    if start is not None:
        out.append((start, length))
    return out, length


def read(args: tuple[str, str, str]) -> dict:
    """One record through the gateway's chain: R peaks (360 Hz), reference labels, reference rhythms."""
    from gateway.signal.chain import condition
    from gateway.signal.leads import read_record
    from gateway.signal.rpeaks import detect_rpeaks
    from gateway.signal.matching import MATCH_WINDOW_S, match_beats
    from training.reference import read_reference

    db, data, record = args
    path = str(Path(data) / record)
    rec = read_record(path, preference=("ECG",)) if db == "vfdb" else read_record(path)
    peaks = detect_rpeaks(condition(rec.signal, rec.fs))
    labels: list[str | None] = [None] * len(peaks)
    if db == "mitdb":
        ref = read_reference(path)
        idx = match_beats(peaks, np.round(ref.beat_samples * MODEL_FS / rec.fs).astype(np.int64),
                          int(round(MATCH_WINDOW_S * MODEL_FS))).ref_of_detection
        labels = [str(ref.beat_symbols[i]) if i >= 0 else None for i in idx]
    af, length = rhythm_episodes(path, AF_RHYTHMS)
    return {"record": record, "db": db, "lead": rec.lead, "peaks": peaks, "labels": labels, "af": af,
            "afib": rhythm_episodes(path, ("(AFIB",))[0], "afl": rhythm_episodes(path, ("(AFL",))[0],
            "length": length}


# ------------------------------------------------------------------ EC57 AF statistics
def overlap(a: Episodes, b: Episodes) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def hits(a: Episodes, b: Episodes) -> int:
    """Episodes of ``a`` that overlap some episode of ``b``."""
    return sum(any(min(e1, e2) > max(s1, s2) for s2, e2 in b) for s1, e1 in a)


def clip(episodes: Episodes, start: float) -> Episodes:
    return [(max(s, start), e) for s, e in episodes if e > start]


def counts(ref: Episodes, det: Episodes) -> np.ndarray:
    """[reference episodes, ... detected, detected ones, detected episodes, ... that hit, ref s, det s, both s]."""
    return np.array([len(ref), hits(ref, det), len(det), hits(det, ref),
                     sum(e - s for s, e in ref), sum(e - s for s, e in det), overlap(ref, det)], dtype=float)


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}" if b else "-"


def stats(c: np.ndarray) -> tuple[str, str, str, str]:
    return pct(c[1], c[0]), pct(c[3], c[2]), pct(c[6], c[4]), pct(c[6], c[5])


# ------------------------------------------------------------------ running the detector
def detect(rec: dict, config: AFConfig, labelled: bool) -> dict:
    """Episodes (s), decision times, burden and analysed time of one record under ``config``."""
    eps, det = af_episodes(rec["peaks"], rec["labels"] if labelled else None, config)
    return {"det": [(s / MODEL_FS, e / MODEL_FS) for s, e, _ in eps], "decided": [d / MODEL_FS for *_, d in eps],
            "burden": det.burden(), "analysed": det.analysed_samples / MODEL_FS, "peaks": rec["peaks"], "config": config}


def analysed_spans(peaks: np.ndarray, config: AFConfig) -> Episodes:
    rr = np.diff(peaks) / MODEL_FS
    ok = (rr >= config.min_rr_s) & (rr <= config.max_rr_s)
    return [(a / MODEL_FS, b / MODEL_FS) for a, b, k in zip(peaks[:-1], peaks[1:], ok) if k]


def delays(ref: Episodes, det: Episodes, decided: list[float]) -> list[tuple[float, float | None, bool]]:
    """(onset, delay, at record start) for each reference AF onset (after >= ONSET_GAP_S without AF).

    The delay runs from the reference onset to the decision of the first detected episode overlapping
    the reference episode (0 if that alarm was already on); None if no detected episode overlaps it.
    """
    out, last_end = [], -np.inf
    for s, e in ref:
        if s - last_end >= ONSET_GAP_S:
            found = [d for (a, b), d in zip(det, decided) if min(b, e) > max(a, s)]
            out.append((s, max(0.0, found[0] - s) if found else None, s < 1.0))
        last_end = e
    return out


def row(rec: dict, res: dict) -> dict:
    ref, det = rec["af"], res["det"]
    spans = analysed_spans(res["peaks"], res["config"])
    false = len(det) - hits(det, ref)
    return {"c": counts(ref, det), "strict": counts(clip(rec["afib"], LEARNING_S), clip(det, LEARNING_S)),
            "ref_burden": overlap(ref, spans) / res["analysed"] if res["analysed"] else 0.0,
            "burden": res["burden"], "false": false, "hours": rec["length"] / 3600,
            "delays": delays(ref, det, res["decided"])}


def evaluate(records: dict[str, dict], config: AFConfig, labelled: bool) -> dict[str, dict]:
    return {name: row(rec, detect(rec, config, labelled)) for name, rec in records.items()
            if not labelled or rec["db"] == "mitdb"}


# ------------------------------------------------------------------ tables
def record_table(rows: dict[str, dict]) -> list[str]:
    out = ["| record | set | ref episodes | detected | episode Se | episode +P | duration Se | duration +P | "
           "ref AF (s) | detected AF (s) | AF burden ref / detected (%) | false episodes | onset delays (s) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        c = r["c"]
        group = next(g.split()[0] for g, members in GROUPS if name in members)
        d = ", ".join(("missed" if x is None else f"{x:.0f}") + ("*" if start else "") for _, x, start in r["delays"])
        out.append(f"| {name} | {group} | {c[0]:.0f} | {c[2]:.0f} | " + " | ".join(stats(c))
                   + f" | {c[4]:.0f} | {c[5]:.0f} | {100 * r['ref_burden']:.1f} / {100 * r['burden']:.1f} | "
                   f"{r['false']} | {d or '-'} |")
    return out


def group_table(rows: dict[str, dict], title: str) -> list[str]:
    out = [f"| {title} | hours | ref / detected episodes | episode Se | episode +P | duration Se | duration +P | "
           "EC57 strict: ESe / E+P / DSe / D+P | false episodes / h (records without AF) | onset delay median / max (s) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for group, members in GROUPS:
        sel = [r for n, r in rows.items() if n in members]
        if not sel:
            continue
        c, strict = sum(r["c"] for r in sel), sum(r["strict"] for r in sel)
        hours = sum(r["hours"] for r in sel)
        quiet = [r for r in sel if r["c"][0] == 0]
        qh = sum(r["hours"] for r in quiet)
        fa = sum(r["false"] for r in quiet)
        ds = [x for r in sel for _, x, start in r["delays"] if x is not None and not start]
        delay = f"{np.median(ds):.0f} / {max(ds):.0f} (n={len(ds)})" if ds else "-"
        out.append(f"| {group} | {hours:.1f} | {c[0]:.0f} / {c[2]:.0f} | " + " | ".join(stats(c))
                   + f" | {' / '.join(stats(strict))} | {fa} in {qh:.1f} h = {fa / qh if qh else 0:.2f} | {delay} |")
    return out


def sweep_table(records: dict[str, dict], config: AFConfig) -> list[str]:
    """Threshold choice on DS1 only."""
    ds1 = {n: r for n, r in records.items() if n in DS1}
    out = ["| window | premature | onset | offset | end_confirm | RR only: ESe / E+P / DSe / D+P | "
           "with labels: ESe / E+P / DSe / D+P | false episodes (RR only) |", "|---|---|---|---|---|---|---|---|"]
    trials = [replace(config, onset=on, offset=on - h) for on in (-0.8, -0.7, -0.6, -0.5) for h in (0.1, 0.2)]
    trials += [replace(config, end_confirm=1), replace(config, end_confirm=32), replace(config, premature=0.0),
               replace(config, premature=0.15), replace(config, window=32), replace(config, window=48),
               replace(config, window=96), replace(config, tolerance_s=0.045)]
    for trial in trials:
        rr, lab = evaluate(ds1, trial, False), evaluate(ds1, trial, True)
        c, cl = sum(r["c"] for r in rr.values()), sum(r["c"] for r in lab.values())
        mark = " (chosen)" if trial == config else ""
        tol = f", r {trial.tolerance_s * 1000:.0f} ms" if trial.tolerance_s != config.tolerance_s else ""
        out.append(f"| {trial.window}{tol}{mark} | {trial.premature} | {trial.onset} | {trial.offset:.1f} | "
                   f"{trial.end_confirm} | {' / '.join(stats(c))} | {' / '.join(stats(cl))} | "
                   f"{sum(r['false'] for r in rr.values())} |")
    return out


def published_flags(rr: np.ndarray, method: str) -> tuple[np.ndarray, int]:
    """Per-interval AF flags of a published detector (offline, for the comparison only) and its dating lag.

    petrenas: Petrenas et al. 2015 as published (3-interval median filter, 8-interval irregularity with
    gamma = 30 ms, exponential averagers alpha = 0.02, bigeminy suppression delta = 2e-4, eta = 0.725);
    dash: Dash et al. 2009 (128 intervals, 8 largest and smallest dropped; nRMSSD > 0.1, turning points
    within the 95 % range of a random series, Shannon entropy of a 16-bin histogram > 0.7);
    cosen16: Lake & Moorman 2011 (16 intervals, r = 30 ms, COSEn > -1.4).
    """
    from numpy.lib.stride_tricks import sliding_window_view as windows

    n, flags = rr.size, np.zeros(rr.size, dtype=bool)
    if method == "petrenas":
        med = np.array([np.median(rr[max(0, i - 2):i + 1]) for i in range(n)])
        m_raw, b_raw = np.zeros(n), np.zeros(n)
        for i in range(n):
            w, wr = med[max(0, i - 7):i + 1], rr[max(0, i - 7):i + 1]
            d = np.abs(w[:, None] - w[None, :])[np.triu_indices(w.size, 1)]
            m_raw[i] = (d >= 0.03).mean() if d.size else 0.0
            b_raw[i] = (w.sum() / wr.sum() - 1) ** 2
        trend, m_avg, b_avg = rr[0], 0.0, 0.0
        for i in range(n):
            trend += 0.02 * (rr[i] - trend)
            m_avg += 0.02 * (m_raw[i] - m_avg)
            b_avg += 0.02 * (b_raw[i] - b_avg)
            flags[i] = (m_avg / trend if b_avg >= 2e-4 else b_avg) > 0.725
        return flags, 0
    if method == "dash":
        k = 128
        for i, w in enumerate(windows(rr, k), start=k - 1):
            y = w[(w >= np.sort(w)[8]) & (w <= np.sort(w)[-9])]
            m, tp = y.size, np.sum((y[1:-1] - y[:-2]) * (y[1:-1] - y[2:]) > 0)
            mu, sd = (2 * m - 4) / 3, np.sqrt((16 * m - 29) / 90)
            h = np.histogram(y, bins=16)[0] / m
            she = -np.sum(h[h > 0] * np.log(h[h > 0])) / np.log(16)
            flags[i] = np.sqrt(np.mean(np.diff(y) ** 2)) / y.mean() > 0.1 and abs(tp - mu) < 1.96 * sd and she > 0.7
        return flags, k // 2
    k, r = 16, 0.03
    for i, x in enumerate(windows(rr, k), start=k - 1):
        d = np.abs(x[:, None] - x[None, :]) <= r
        upper = np.triu(np.ones((k - 1, k - 1), dtype=bool), 1)
        b, a = (d[:-1, :-1] & upper).sum(), (d[:-1, :-1] & d[1:, 1:] & upper).sum()
        se = np.log(b / a) if a else np.log((k - 1) * (k - 2) / 2)
        flags[i] = se + np.log(2 * r / x.mean()) > -1.4
    return flags, k // 2


def compare_table(records: dict[str, dict], config: AFConfig) -> list[str]:
    """Published RR detectors against this one on DS1 (RR only, same R peaks, same scoring)."""
    out = ["| method (DS1, RR only) | ESe / E+P / DSe / D+P | detected episodes | false AF (s) |", "|---|---|---|---|"]
    ds1 = {n: r for n, r in records.items() if n in DS1}
    for method in ("petrenas", "dash", "cosen16", "ours"):
        c = 0
        for rec in ds1.values():
            if method == "ours":
                det = detect(rec, config, False)["det"]
            else:
                peaks = rec["peaks"]
                flags, lag = published_flags(np.clip(np.diff(peaks) / MODEL_FS, 0.2, 3.0), method)
                flags = np.concatenate([flags[lag:], np.zeros(lag, dtype=bool)])  # dated back half a window
                edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
                det = [(peaks[a] / MODEL_FS, peaks[b] / MODEL_FS) for a, b in zip(edges[::2], edges[1::2])]
            c = c + counts(rec["af"], det)
        out.append(f"| {method} | {' / '.join(stats(c))} | {c[2]:.0f} | {c[5] - c[6]:.0f} |")
    return out


def posthoc_table(records: dict[str, dict], config: AFConfig) -> list[str]:
    """Other thresholds on every set: looked at only after the held-out figures above, never to choose."""
    out = ["| onset / offset | labels | DS1 | DS2 | 217 (paced) | vfdb | false episodes in records without AF "
           "(DS1 / DS2 / vfdb) |", "|---|---|---|---|---|---|---|"]
    for on, off in ((-0.6, -0.8), (-0.7, -0.9), (-0.8, -1.0), (-1.0, -1.2), (-1.2, -1.4)):
        trial = replace(config, onset=on, offset=off)
        for labelled in (False, True):
            rows = evaluate(records, trial, labelled)
            cells, fa = [], []
            for members in (DS1, DS2, ("217",), VFDB):
                sel = [r for n, r in rows.items() if n in members]
                cells.append(" / ".join(stats(sum(r["c"] for r in sel))) if sel else "-")
                if members != ("217",):
                    fa.append(str(sum(r["false"] for r in sel if r["c"][0] == 0)) if sel else "-")
            mark = " (chosen)" if trial == config else ""
            out.append(f"| {on} / {off}{mark} | {'reference' if labelled else 'none'} | {' | '.join(cells)} | "
                       f"{' / '.join(fa)} |")
    return out


def speed(records: dict[str, dict], config: AFConfig) -> float:
    """Microseconds per beat of the detector (offline loop, RR only) over all records."""
    beats, t = sum(len(r["peaks"]) for r in records.values()), time.perf_counter()
    for rec in records.values():
        af_episodes(rec["peaks"], None, config)
    return (time.perf_counter() - t) / beats * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mitdb", default=str(DATA / "mitdb"))
    parser.add_argument("--vfdb", default=str(DATA / "vfdb"))
    parser.add_argument("--doc", default=str(REPO / "docs" / "af.md"), help="Markdown report ('' for none)")
    parser.add_argument("--workers", type=int, default=2, choices=(1, 2))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    jobs = [("mitdb", args.mitdb, r) for r in MITDB] + [("vfdb", args.vfdb, r) for r in VFDB]
    records: dict[str, dict] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for rec in pool.map(read, jobs):
            records[rec["record"]] = rec
            print(f"  {rec['db']} {rec['record']} ({rec['lead']}): {len(rec['peaks'])} beats, "
                  f"{len(rec['af'])} reference AF episodes", flush=True)
    config = AFConfig()
    rr, lab = evaluate(records, config, False), evaluate(records, config, True)
    us = speed(records, config)
    per_record = record_table(rr)
    totals, totals_lab = group_table(rr, "RR only"), group_table(lab, "with reference labels")
    sweep, compare = sweep_table(records, config), compare_table(records, config)
    posthoc = posthoc_table(records, config)
    wall = time.perf_counter() - started
    print("\n".join(["", *totals, "", *totals_lab, "", *per_record, "", *sweep, "", *compare, "", *posthoc, "",
                     f"detector {us:.1f} us per beat; wall time {wall:.0f} s"]))
    if args.doc:
        command = ("python -m bench.af " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
        write_doc(Path(args.doc), command, config, totals, totals_lab, per_record, sweep, compare, posthoc, us, wall)
        print(f"wrote {args.doc}")
    return 0


def write_doc(path: Path, command: str, config: AFConfig, totals: list[str], totals_lab: list[str],
              per_record: list[str], sweep: list[str], compare: list[str], posthoc: list[str],
              us: float, wall: float) -> None:
    """docs/af.md: the prose of docs/af-notes.md (its ``<!-- TABLE -->`` marks say where) and the tables."""
    tables = {"TOTALS": totals, "TOTALS_LABELS": totals_lab, "PER_RECORD": per_record, "SWEEP": sweep,
              "COMPARE": compare, "POSTHOC": posthoc}
    notes = (REPO / "docs" / "af-notes.md").read_text(encoding="utf-8")
    for key, lines in tables.items():
        notes = notes.replace(f"<!-- {key} -->", "\n".join(lines))
    header = (f"<!-- Made by `{command}` from the repository root (wall time {wall:.0f} s, 2 workers, the shared "
              f"2-core machine; detector {us:.1f} us per beat). Edit docs/af-notes.md, not this file. -->")
    path.write_text(f"{header}\n{notes.replace('<!-- SPEED -->', f'{us:.1f}')}", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
