"""``ecg-analyze RECORD``: run the gateway's stream processor over a WFDB record, offline.

The very same :class:`~gateway.processor.StreamProcessor` that serves a
live device reads the record (the preferred lead, converted to the counts
of a wide-range 16-bit front end so nothing clips and nothing is lost to
rounding), in one-second frames.  Its output is written as a WFDB
annotation file ``RECORD.ecg`` (next to the record, or in ``--out``) that
any WFDB tool can read and ``wfdb.processing.compare_annotations`` can
score against the reference ``.atr``:

* every beat: its MIT-BIH code at its R peak (aami5 classes map to
  N, S, V, F, Q; a beat too near a segment edge to classify is ``Q``);
* every rhythm alert: a ``+`` rhythm annotation at the alert's start whose
  aux names the rhythm -- ``(VFL`` flutter/fibrillation, ``(VT`` ventricular
  run, ``(B`` bigeminy, ``(T`` trigeminy, ``(SBR`` bradycardia, ``(SVTA``
  tachycardia -- and ``(N`` where it cleared (at the end of the 1 s frame
  in which the end was decided);
* other alerts (pause, frequent PVCs, lead off ...): a ``"`` comment
  annotation with aux ``alert:<type>``.

It prints a summary (beats per label, alerts) and, if the record has a
reference ``.atr``, the beat detection and label agreement against it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..alerts.types import AF, BIGEMINY, BRADYCARDIA, RUN, TACHYCARDIA, TRIGEMINY, VF
from ..errors import SignalError
from ..events import Alert, Beat
from ..signal.leads import read_record
from ..device import DeviceStream
from ..processor import ProcessorConfig, StreamProcessor
from ..signal.spec import MODEL_FS

#: A front end for records in mV: 16 bits over +-10 mV (0.3 uV per count).
RECORD_FRONT_END = dict(adc_bits=16, gain=165.0)
#: Rhythm codes (MIT-BIH aux strings) of the alerts that are rhythms.
RHYTHM_AUX = {AF: "(AFIB", VF: "(VFL", RUN: "(VT", BIGEMINY: "(B", TRIGEMINY: "(T", BRADYCARDIA: "(SBR", TACHYCARDIA: "(SVTA"}
#: Model labels that are not MIT-BIH beat codes (aami5 classes, unclassified).
LABEL_CODE = {"S": "S", "Q": "Q", "?": "Q"}
#: Beat codes of the reference that count as beats when scoring.
REFERENCE_BEATS = set("NLRBAaJSVrFejnE/fQ?")


@dataclass(frozen=True)
class Analysis:
    """What one run produced."""

    record: str
    beats: list[Beat]
    alerts: list[Alert]
    annotation: Path
    fs: int
    duration: float  # seconds of signal


def analyze_record(path: str | Path, classifier, out_dir: str | Path | None = None,
                   config: ProcessorConfig | None = None, extension: str = "ecg") -> Analysis:
    """Run the processor over record ``path`` and write ``<record>.<extension>``; times start at 0."""
    path = Path(path)
    rec = read_record(path)
    stream = DeviceStream(rec.name, rec.name, rec.fs, **RECORD_FRONT_END)
    proc = StreamProcessor(stream, classifier, config or ProcessorConfig(strips=False), start_time=0.0)
    counts = stream.mv_to_counts(rec.signal)
    events = []
    for i in range(0, counts.size, rec.fs):
        chunk = counts[i:i + rec.fs]
        events += proc.feed(chunk, (i + chunk.size) / rec.fs)
    events += proc.close(counts.size / rec.fs)
    beats = [e for e in events if isinstance(e, Beat)]
    alerts = [e for e in events if isinstance(e, Alert)]
    out = Path(out_dir) if out_dir is not None else path.parent
    out.mkdir(parents=True, exist_ok=True)
    annotation = write_annotations(rec.name, rec.fs, beats, alerts, out, extension)
    return Analysis(rec.name, beats, alerts, annotation, rec.fs, counts.size / rec.fs)


def write_annotations(record: str, fs: int, beats: list[Beat], alerts: list[Alert], out: Path,
                      extension: str) -> Path:
    """Beats and alerts as a WFDB annotation file, samples at the record's rate."""
    import wfdb

    rows: list[tuple[int, int, str, str]] = []  # (sample, order, symbol, aux)
    for b in beats:
        rows.append((_to_record(b.sample, fs), 1, LABEL_CODE.get(b.label, b.label), ""))
    for a in alerts:  # the processor's clock starts at 0, so times are seconds into the record
        at = _to_record(int(round((a.start if a.state == "raised" else a.end) * MODEL_FS)), fs)
        if a.type in RHYTHM_AUX:
            rows.append((at, 0, "+", RHYTHM_AUX[a.type] if a.state == "raised" else "(N"))
        elif a.state == "raised":
            rows.append((at, 2, '"', f"alert:{a.type}"))
    if not rows:
        raise SignalError(f"{record}: no beat and no alert to write; is the signal an ECG?")
    rows.sort()
    wfdb.wrann(record, extension, np.array([r[0] for r in rows]), symbol=[r[2] for r in rows],
               aux_note=[r[3] for r in rows], fs=fs, write_dir=str(out))
    return out / f"{record}.{extension}"


def _to_record(sample_360: int, fs: int) -> int:
    return int(round(sample_360 * fs / MODEL_FS))


def score(path: Path, analysis: Analysis, window_s: float = 0.15) -> dict[str, float] | None:
    """Detection Se/+P and label agreement against the reference ``.atr``, if there is one.

    Agreement counts the matched beats whose reference code is a label the
    model gave (for seed8 these are MIT codes; aami5 classes only match N, S,
    V, F, Q by name, so its figure is a rough one).
    """
    import wfdb
    from wfdb.processing import compare_annotations

    if not path.with_suffix(".atr").is_file():
        return None
    ref = wfdb.rdann(str(path), "atr")
    keep = [i for i, s in enumerate(ref.symbol) if s in REFERENCE_BEATS]
    ref_samples = ref.sample[keep]
    ref_symbols = [ref.symbol[i] for i in keep]
    test = np.array([_to_record(b.sample, analysis.fs) for b in analysis.beats], dtype=np.int64)
    if ref_samples.size == 0 or test.size == 0:
        return None
    cmp = compare_annotations(ref_samples, test, int(window_s * analysis.fs))
    known = {b.label for b in analysis.beats}  # the labels this model can give
    pairs = [(ref_symbols[r], analysis.beats[t].label) for r, t in zip(cmp.matched_ref_inds, cmp.matched_test_inds)
             if ref_symbols[r] in known]
    agree = float(np.mean([a == b for a, b in pairs])) if pairs else None
    return {"sensitivity": cmp.sensitivity, "positive_predictivity": cmp.positive_predictivity,
            "matched": cmp.tp, "missed": cmp.fn, "extra": cmp.fp, "label_agreement": agree}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--report" or a.startswith("--report=") for a in argv):  # RECORD... --report FILE.html
        from .report import main as report_main
        return report_main(argv)
    parser = argparse.ArgumentParser(prog="ecg-analyze", description=__doc__.split("\n\n")[0])
    parser.add_argument("record", help="WFDB record path without extension, e.g. ../shared/data/mitdb/208")
    parser.add_argument("--out", help="directory for the annotation file (default: beside the record)")
    parser.add_argument("--model", help="a .tflite model with its .json (default: the shipped one)")
    parser.add_argument("--scheme", default=None, help="label scheme of the shipped model (default seed8)")
    parser.add_argument("--extension", default="ecg", help="annotation file extension (default ecg)")
    parser.add_argument("--report", metavar="FILE.html", help="instead: a Holter-style HTML report over RECORD... "
                        "(WFDB, .edf, .csv with --rate HZ [--column NAME]); see gateway/tools/report.py")
    args = parser.parse_args(argv)
    from ..classify.model import ModelError, load_model

    try:
        classifier = load_model(args.model, args.scheme)
        analysis = analyze_record(args.record, classifier, args.out, extension=args.extension)
    except (ModelError, SignalError, FileNotFoundError, ValueError) as e:
        print(f"ecg-analyze: {e}", file=sys.stderr)
        return 2
    print(f"{analysis.record}: {len(analysis.beats)} beats "
          f"({', '.join(f'{k} {v}' for k, v in Counter(b.label for b in analysis.beats).most_common())}), "
          f"model {classifier.version}")
    for a in analysis.alerts:
        print(f"  {a.start:9.1f} s  {a.state:7s} {a.severity:8s} {a.type:25s} {a.message}")
    scored = score(Path(args.record), analysis)
    if scored:
        agree = scored["label_agreement"]
        print(f"vs reference: Se {100 * scored['sensitivity']:.2f}%  +P {100 * scored['positive_predictivity']:.2f}%"
              f"  ({scored['matched']} matched, {scored['missed']} missed, {scored['extra']} extra)"
              + (f", label agreement {100 * agree:.1f}%" if agree is not None else ""))
    print(f"wrote {analysis.annotation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
