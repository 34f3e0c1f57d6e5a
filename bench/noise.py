"""Noise stress test of the whole stream processor, EC57's method: QRS Se/+P and alerts, clean vs noisy.

    python -m bench.noise [--data-dir ../shared/data] [--records 100 118 ...] [--snr 24 18 12 6 0]
                          [--noise bw ma bw+ma] [--model PATH] [--doc docs/noise.md]

Each MIT-BIH record (its preferred lead) is streamed through
:class:`gateway.processor.StreamProcessor` with the shipped model by
:func:`gateway.tools.analyze.analyze_record` (1 s frames, as ``ecg-analyze``
and ``bench.alerts`` do): once clean, then once per noise and SNR with the
noise added by the rules of WFDB's ``nst`` (:mod:`bench.nst`: from 5:00 in
alternating 2-minute segments, SNR from the QRS amplitude).  Noise: nstdb
channel 1 (training augments with channel 0 only), ECG sample k gets noise
sample k; ``bw+ma`` is the two in equal parts (:func:`bench.nst.blend`).
The noisy lead is written as a one-signal WFDB record (16-bit, 1 uV steps)
in ``--work`` and read back by ``analyze_record``.

Scored from 5:00 on (the first 5 minutes are the same in every run; ``bxb``
starts there too): QRS Se and +P with :func:`bench.rpeaks.score` (150 ms),
the alerts raised there per hour by type and severity, and critical alerts
per 30 min.  Whether a record has ventricular runs (>= 3 consecutive V
beats) or ventricular flutter/fibrillation (``(VFL``, ``(VT`` rhythm) is read
from its annotations.  The text around the tables is ``docs/noise-notes.md``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bench import nst  # noqa: E402
from bench.alerts import ventricular_runs  # noqa: E402
from bench.noise_report import write_doc  # noqa: E402
from bench.rpeaks import Score, reference, score  # noqa: E402
from gateway.events import Alert  # noqa: E402
from gateway.tools.analyze import REFERENCE_BEATS, analyze_record  # noqa: E402
from gateway.signal.leads import Recording, read_record  # noqa: E402
from training.noise import EVAL_CHANNEL, read_noise  # noqa: E402
from training.reference import rhythm_episodes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: 118 and 119 are the records of nstdb's own test records; 100 103 105 (noisy) 113 228 (PVCs, noisy) have no
#: ventricular run or VF in their annotations, 200 213 215 have both (read at run time, not assumed).
RECORDS = ("100", "103", "105", "113", "118", "119", "200", "213", "215", "228")
SNRS = (24.0, 18.0, 12.0, 6.0, 0.0)
NOISES = ("bw", "ma", "bw+ma")
FS = 360
#: Largest |sample| the written record holds (16 bits at 1000 counts per mV).
WRITE_GAIN = 1000.0


@dataclass
class Run:
    """One record streamed once, clean (``noise`` "clean") or with one noise at one SNR."""

    record: str
    noise: str
    snr: float | None
    score: Score  # from 5:00 on
    alerts: list[Alert]  # raised from 5:00 on
    hours: float  # scored hours
    realised_snr: float | None  # what the noisy segments got (nst's rule on the noise as added)

    def per_hour(self) -> float:
        return len(self.alerts) / self.hours

    def critical(self) -> int:
        return sum(a.severity == "critical" for a in self.alerts)


@dataclass(frozen=True)
class RecordInfo:
    """What the annotations say about a record's ventricular rhythms, and the QRS amplitude nst measures."""

    record: str
    lead: str
    runs: int  # runs of >= 3 consecutive V beats
    vt_vf: int  # (VT and (VFL rhythm episodes
    qrs_mv: float

    @property
    def quiet(self) -> bool:
        """No ventricular run and no ventricular tachycardia/flutter: where the critical-alert target applies."""
        return self.runs == 0 and self.vt_vf == 0

    @property
    def kind(self) -> str:
        if self.quiet:
            return "no ventricular run or VF"
        return f"{self.runs} V runs (>= 3 beats), {self.vt_vf} (VT/(VFL episodes"


def describe(path: Path, rec: Recording) -> RecordInfo:
    import wfdb

    ann = wfdb.rdann(str(path), "atr")
    beats = [(s / ann.fs, sym) for s, sym in zip(ann.sample, ann.symbol) if sym in REFERENCE_BEATS]
    episodes = rhythm_episodes(path, "(VT") + rhythm_episodes(path, "(VFL")
    return RecordInfo(rec.name, rec.lead, len(ventricular_runs(beats)), len(episodes),
                      nst.qrs_amplitude(rec.signal, ann.sample, ann.symbol, rec.fs))


def noise_source(noise_dir: Path, kind: str, channel: int) -> np.ndarray:
    """One nstdb noise channel (mV), or ``a+b``: the named ones in equal parts."""
    parts = [read_noise(str(noise_dir), k, channel) for k in kind.split("+")]
    return parts[0] if len(parts) == 1 else nst.blend(parts, FS)


def write_lead(rec: Recording, signal: np.ndarray, out: Path) -> Path:
    """``signal`` as a one-signal WFDB record named like ``rec`` in ``out`` (where analyze_record reads it)."""
    import wfdb

    peak = float(np.nanmax(np.abs(signal)))
    if peak * WRITE_GAIN >= 32767:
        raise SystemExit(f"{rec.name}: noisy signal reaches {peak:.1f} mV, beyond the {32767 / WRITE_GAIN:.1f} mV "
                         f"a 16-bit record at {WRITE_GAIN:g} counts/mV holds")
    out.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(rec.name, fs=rec.fs, units=["mV"], sig_name=[rec.lead], p_signal=signal[:, None], fmt=["16"],
                adc_gain=[WRITE_GAIN], baseline=[0], write_dir=str(out))
    return out / rec.name


def stream(path: Path, classifier, work: Path, ref: np.ndarray, episodes: list[tuple[int, int]],
           record: str, noise: str, snr: float | None, realised: float | None) -> Run:
    """Stream ``path`` through the processor; score its beats and keep its alerts from 5:00 on."""
    t = time.perf_counter()
    analysis = analyze_record(path, classifier, work)
    if analysis.fs != FS:
        raise SystemExit(f"{record}: expected {FS} Hz, got {analysis.fs}")
    skip = int(nst.START_S * FS)
    peaks = np.array([b.sample for b in analysis.beats], dtype=np.int64)
    s = score(ref[ref >= skip], peaks[peaks >= skip], episodes, time.perf_counter() - t)
    alerts = [a for a in analysis.alerts if a.state == "raised" and a.time >= nst.START_S]
    return Run(record, noise, snr, s, alerts, (analysis.duration - nst.START_S) / 3600, realised)


def stress_record(data_root: Path, record: str, noises: list[str], snrs: list[float], classifier,
                  work: Path, channel: int, progress) -> tuple[RecordInfo, list[Run]]:
    """The clean run and every noise x SNR run of one record."""
    path = data_root / "mitdb" / record
    rec = read_record(path)
    info = describe(path, rec)
    ref, episodes = reference(str(path))
    runs = [stream(path, classifier, work, ref, episodes, record, "clean", None, None)]
    progress(runs[-1])
    segments = nst.noisy_segments(rec.signal.size, rec.fs)
    for kind in noises:
        noise = noise_source(data_root / "nstdb", kind, channel)
        rms = nst.rms_amplitude(noise, FS)
        for snr in snrs:
            added = nst.added_noise(noise, rec.signal.size, nst.gain_for(snr, info.qrs_mv, rms), segments)
            target = write_lead(rec, rec.signal + added, work / "records")
            realised = nst.segment_snr(added, segments, info.qrs_mv, rec.fs)
            runs.append(stream(target, classifier, work, ref, episodes, record, kind, snr, realised))
            progress(runs[-1])
    return info, runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"),
                        help="directory holding mitdb/ and nstdb/ (default: %(default)s)")
    parser.add_argument("--records", nargs="+", default=list(RECORDS))
    parser.add_argument("--snr", nargs="+", type=float, default=list(SNRS), help="SNRs in dB")
    parser.add_argument("--noise", nargs="+", default=list(NOISES), help="bw, ma, or a mix such as bw+ma")
    parser.add_argument("--channel", type=int, default=EVAL_CHANNEL, choices=(0, 1),
                        help="nstdb channel (default %(default)s; training augments with channel 0)")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the shipped one)")
    parser.add_argument("--work", default="/tmp/ecg-bench-noise", help="scratch directory for the noisy records")
    parser.add_argument("--doc", default=str(REPO / "docs" / "noise.md"), help="Markdown report ('' for none)")
    args = parser.parse_args(argv)
    from gateway.classify.model import ModelError, load_model

    data = Path(args.data_dir)
    missing = [str(data / "mitdb" / f"{r}.hea") for r in args.records if not (data / "mitdb" / f"{r}.hea").is_file()]
    missing += [str(data / "nstdb" / f"{k}.hea") for kind in args.noise for k in kind.split("+")
                if not (data / "nstdb" / f"{k}.hea").is_file()]
    if missing:
        print(f"bench.noise: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        classifier = load_model(args.model, num_threads=1)
    except ModelError as e:
        print(f"bench.noise: {e}", file=sys.stderr)
        return 2
    work = Path(args.work)
    total = len(args.records) * (1 + len(args.noise) * len(args.snr))
    done, t0 = [0], time.perf_counter()

    def progress(run: Run) -> None:
        done[0] += 1
        snr = "clean" if run.snr is None else f"{run.noise} {run.snr:g} dB (got {run.realised_snr:.1f})"
        print(f"[{done[0]}/{total}] {run.record} {snr}: Se {run.score.se(150):.2f} +P {run.score.ppv(150):.2f}, "
              f"{len(run.alerts)} alerts, {run.critical()} critical  ({run.score.seconds:.1f} s, "
              f"{time.perf_counter() - t0:.0f} s so far)", flush=True)

    infos, runs = [], []
    for record in args.records:
        info, record_runs = stress_record(data, record, args.noise, args.snr, classifier, work, args.channel,
                                          progress)
        infos.append(info)
        runs += record_runs
    shutil.rmtree(work / "records", ignore_errors=True)
    wall = time.perf_counter() - t0
    if args.doc:
        command = " ".join(["python -m bench.noise", *(sys.argv[1:] if argv is None else argv)])
        text = write_doc(Path(args.doc), command, infos, runs, args.snr, args.noise, args.channel,
                         classifier.version, wall)
        print(text)
        print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
