"""Time of ``ecg-analyze RECORD --report`` over a 24-hour record built from MIT-BIH, on one core.

    python -m bench.report [--data ../shared/data/mitdb] [--hours 24] [--keep DIR]

The preferred lead of MIT-BIH records (100, 101, ... in order, repeated if
needed) is concatenated into one WFDB record of ``--hours`` hours (format
16, 360 Hz, with a start date so the report shows clock times), then the
report is written with the shipped model and timed (wall and process CPU
time; numpy/BLAS limited to one thread, the interpreter uses one thread).
Target: <= 60 s for 24 h.  The time is dominated by the stream processor
(filter, detector, classifier) that the report runs over the whole signal.
Then the beats and alerts of that run are written as the record's ``.ecg``
annotations (as a gateway recording has them in ``.gw``) and the report is
timed again with ``--annotations ecg``, which reads them instead.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def build(data: Path, hours: float, out: Path) -> Path:
    import wfdb

    from gateway.signal.leads import read_record

    names = sorted(p.stem for p in data.glob("*.hea") if p.stem.isdigit())
    need = int(hours * 3600 * 360)
    parts, have, i = [], 0, 0
    while have < need:
        rec = read_record(data / names[i % len(names)])
        if rec.fs != 360:
            raise SystemExit(f"{rec.name}: {rec.fs} Hz; expected MIT-BIH at 360 Hz")
        parts.append(rec.signal[: need - have])
        have += parts[-1].size
        i += 1
    x = np.concatenate(parts)
    d = np.clip(np.round(x * 200), -32767, 32767).astype(np.int16)[:, None]
    wfdb.wrsamp("holter24", fs=360, units=["mV"], sig_name=["MLII"], d_signal=d, fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(out), base_datetime=datetime(2026, 1, 1, 8, 0, 0))
    return out / "holter24"


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(here.parent / "shared" / "data" / "mitdb"))
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", help="write the record and the report here (default: a temporary folder)")
    args = parser.parse_args()
    from gateway.classify.model import load_model
    from gateway.tools.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        out.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        record = build(Path(args.data), args.hours, out)
        print(f"built {args.hours:g} h record {record} in {time.perf_counter() - t:.1f} s")
        classifier = load_model(None, None)
        wall, cpu = time.perf_counter(), time.process_time()
        s = write_report([str(record)], out / "report.html", classifier)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = (out / "report.html").stat().st_size
        print(f"report over {args.hours:g} h: {len(s['beats'])} beats, {len(s['vruns'])} ventricular runs, "
              f"{len(s['pauses'])} pauses, {size / 1024:.0f} KiB HTML")
        print(f"time: {wall:.1f} s wall, {cpu:.1f} s CPU (target <= 60 s for 24 h); "
              f"{args.hours * 3600 / wall:.0f}x real time; load {os.getloadavg()[0]:.1f}")
        from gateway.tools.analyze import write_annotations
        from gateway.tools.report import analyze
        from gateway.tools.report_inputs import load

        result = analyze([load(str(record))], classifier)
        write_annotations(record.name, 360, result.beats, result.alerts, out, "ecg")
        wall, cpu = time.perf_counter(), time.process_time()
        s2 = write_report([str(record)], out / "report-ann.html", None, annotations="ecg")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"report from the annotations (--annotations ecg): {len(s2['beats'])} beats, "
              f"{len(s2['vruns'])} ventricular runs; {wall:.1f} s wall, {cpu:.1f} s CPU; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
