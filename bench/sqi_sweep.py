"""Validation of the QRS-to-noise limit that holds beat labels (gateway/signal/sqi.py), on records the noise bench never uses.

    python -m bench.sqi_sweep 0 100 [--records 101 109 ...] [--data-dir ../shared/data] [--work /tmp/ecg-sqi-sweep]

For each limit (0 = the test off, the gateway before it existed), in a
fresh process so the rhythm detector's default takes it: MIT-BIH DS1
records outside bench.noise's set, clean, and with nstdb ``ma`` from
CHANNEL 0 (bench.noise adds channel 1) mixed by bench.nst's rules at 12 dB
(and at 6 dB on the records without ventricular runs).  Printed per record
and pooled: reference ventricular runs (>= 3 V) found by a
``ventricular_run`` alert (bench.alerts' matching), run alerts in no
reference run, and critical alerts from 5:00 on.  One JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NO_RUNS = ("101", "108", "109", "112", "114", "116")  # DS1, no reference run of 3 V
RUNS = ("106", "124", "203", "205", "207", "208", "223")  # DS1 with runs (208: couplets only), flutter in 207


def one(limit: float, data: Path, work: Path, records: list[str]) -> None:
    """All runs at one limit (this process only)."""
    import gateway.signal.sqi as sqi

    sqi.QRS_NOISE_MIN = limit  # before the rhythm detector's config class is made
    import wfdb

    from bench import nst
    from bench.alerts import alert_episodes, ventricular_runs
    from bench.noise import describe, noise_source, write_lead
    from gateway.alerts.types import RUN
    from gateway.classify.model import load_model
    from gateway.signal.leads import read_record
    from gateway.signal.rhythm import RhythmConfig
    from gateway.tools.analyze import REFERENCE_BEATS, analyze_record

    assert RhythmConfig().qrs_noise_min == limit
    classifier = load_model(None, num_threads=1)
    noise = noise_source(data / "nstdb", "ma", 0)
    rms = nst.rms_amplitude(noise, 360)
    for record in records:
        path = data / "mitdb" / record
        rec = read_record(path)
        info = describe(path, rec)
        ann = wfdb.rdann(str(path), "atr")
        ref_runs = ventricular_runs([(s / ann.fs, y) for s, y in zip(ann.sample, ann.symbol) if y in REFERENCE_BEATS])
        segments = nst.noisy_segments(rec.signal.size, rec.fs)
        for snr in (None, 12.0, 6.0) if record in NO_RUNS else (None, 12.0):
            target = path if snr is None else write_lead(
                rec, rec.signal + nst.added_noise(noise, rec.signal.size, nst.gain_for(snr, info.qrs_mv, rms), segments),
                work / "records")
            a = analyze_record(target, classifier, work)
            ours = alert_episodes(a.alerts, RUN, a.duration)
            critical = [x for x in a.alerts if x.state == "raised" and x.severity == "critical" and x.time >= nst.START_S]
            print(json.dumps(dict(
                limit=limit, record=record, snr=snr, ref_runs=len(ref_runs),
                found=sum(any(q0 - 0.5 <= e and s <= q1 for q0, q1 in ours) for s, e in ref_runs),
                false_runs=sum(not any(q0 - 0.5 <= e and s <= q1 for s, e in ref_runs) for q0, q1 in ours),
                critical=len(critical), critical_types=sorted({x.type for x in critical}),
                hours=(a.duration - nst.START_S) / 3600)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("limits", nargs="+", type=float)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--work", default="/tmp/ecg-sqi-sweep")
    parser.add_argument("--records", nargs="+", default=list(NO_RUNS + RUNS))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        one(args.limits[0], Path(args.data_dir), Path(args.work) / f"{args.limits[0]:g}", args.records)
        return 0
    rows = []
    for limit in args.limits:
        out = subprocess.run([sys.executable, "-m", "bench.sqi_sweep", str(limit), "--one", "--data-dir", args.data_dir,
                              "--work", args.work, "--records", *args.records], cwd=REPO, check=True, capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        for line in out.splitlines():
            print(line, flush=True)
    for limit in args.limits:
        for snr in (None, 12.0, 6.0):
            group = [r for r in rows if r["limit"] == limit and r["snr"] == snr]
            quiet = [r for r in group if r["ref_runs"] == 0]
            print(f"limit {limit:g}, {'clean' if snr is None else f'ma ch0 {snr:g} dB'}: reference runs found "
                  f"{sum(r['found'] for r in group)}/{sum(r['ref_runs'] for r in group)}, run alerts in no reference "
                  f"run {sum(r['false_runs'] for r in group)}, critical per 30 min on records without runs: "
                  + ", ".join(f"{r['record']} {r['critical'] / r['hours'] / 2:.2f}" for r in quiet))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
