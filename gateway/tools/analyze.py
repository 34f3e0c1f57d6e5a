"""``ecg-analyze RECORD``: run the gateway's stream processor over a WFDB record, offline.

The very same :class:`~gateway.processor.StreamProcessor` that serves a
live device reads the record (one lead, chosen by
:func:`gateway.signal.leads.choose_lead` or ``--lead NAME|INDEX``,
converted to the counts of a wide-range 16-bit front end so nothing clips
and nothing is lost to rounding), in one-second frames, at the record's own
rate (any rate from 50 Hz; the processor resamples to 360 Hz).  With
``--adaptation FILE.npz`` the processor classifies with that patient's head
(``ecg-adapt``, :mod:`gateway.classify.adapt`) on top of the model.

**Invalid samples** (WFDB's missing-value code, NaN in ``p_signal``) are a
gap, as a sequence gap of a live device: the stretch is not fed, the
processor is told with :meth:`~gateway.processor.StreamProcessor.gap`, so
its chain ends the segment and restarts after it (no beat window, RR
interval or rhythm window spans the gap), and the next frame is fed with
its exact record time, on which the processor re-anchors its sample clock,
so beats after the gap keep their record sample numbers (to within one
360 Hz sample).  A lead-off-flagged stretch would keep the clock too, but
it is judged in whole 0.25 s blocks (good samples beside the gap would be
lost) and raises a ``lead_off`` alert for what is a hole in the recording,
not an electrode.  Gaps are printed and written as ``"`` comments with aux
``gap:...``; reference beats inside a gap are left out of the scoring.  Its output is written as a WFDB
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
  annotation with aux ``alert:<type>``;
* every gap of invalid samples: a ``"`` comment at its first sample with
  aux ``gap:invalid samples, <seconds> s``.

It prints a summary (the lead used and why, gaps, beats per label, alerts)
and, if the record has a reference ``.atr``, the beat detection and label
agreement against it.
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
from ..device import DeviceStream
from ..processor import ProcessorConfig, StreamProcessor
from ..signal.leads import LeadChoice, invalid_runs, read_record
from ..signal.matching import REFERENCE_BEATS
from ..signal.spec import MODEL_FS

#: A front end for records in mV: 16 bits over +-10 mV (0.3 uV per count).
RECORD_FRONT_END = dict(adc_bits=16, gain=165.0)
#: Rhythm codes (MIT-BIH aux strings) of the alerts that are rhythms.
RHYTHM_AUX = {AF: "(AFIB", VF: "(VFL", RUN: "(VT", BIGEMINY: "(B", TRIGEMINY: "(T", BRADYCARDIA: "(SBR", TACHYCARDIA: "(SVTA"}
#: Model labels that are not MIT-BIH beat codes (aami5 classes, unclassified).
LABEL_CODE = {"S": "S", "Q": "Q", "?": "Q"}
#: What the summary adds to the lead line when no lead name was standard.
LEAD_HINT = "--lead to choose"


@dataclass(frozen=True)
class Analysis:
    """What one run produced."""

    record: str
    beats: list[Beat]
    alerts: list[Alert]
    annotation: Path
    fs: int
    duration: float  # seconds of signal
    lead: LeadChoice | None = None  # the lead analysed and why
    gaps: tuple[tuple[int, int], ...] = ()  # (start, stop) record samples of each stretch of invalid samples

    @property
    def gap_seconds(self) -> float:
        return sum(b - a for a, b in self.gaps) / self.fs


def analyze_record(path: str | Path, classifier, out_dir: str | Path | None = None,
                   config: ProcessorConfig | None = None, extension: str = "ecg",
                   lead: str | int | None = None) -> Analysis:
    """Run the processor over record ``path`` and write ``<record>.<extension>``; times start at 0.

    ``lead``: a signal name or index (default: :func:`~gateway.signal.leads.choose_lead`'s rule).
    Invalid samples are not fed: each stretch of them is a :meth:`StreamProcessor.gap`.
    """
    path = Path(path)
    rec = read_record(path, lead=lead)
    stream = DeviceStream(rec.name, rec.name, rec.fs, **RECORD_FRONT_END)
    proc = StreamProcessor(stream, classifier, config or ProcessorConfig(strips=False), start_time=0.0)
    gaps = invalid_runs(rec.signal)
    counts = stream.mv_to_counts(np.where(np.isfinite(rec.signal), rec.signal, 0.0))  # gap samples are not fed
    n, fs = counts.size, rec.fs
    events = []
    pos = 0
    for start, stop in gaps + [(n, n)]:
        for i in range(pos, start, fs):  # the valid stretch before the gap, in 1 s frames
            chunk = counts[i:min(i + fs, start)]
            events += proc.feed(chunk, (i + chunk.size) / fs)  # arrival = the record time of its last sample
        if stop > start:
            events += proc.gap(stop - start, start / fs)  # WFDB frames (one sample per signal) missing
        pos = stop
    events += proc.close(n / fs)
    beats = [e for e in events if isinstance(e, Beat)]
    alerts = [e for e in events if isinstance(e, Alert)]
    out = Path(out_dir) if out_dir is not None else path.parent
    out.mkdir(parents=True, exist_ok=True)
    annotation = write_annotations(rec.name, fs, beats, alerts, out, extension, gaps)
    return Analysis(rec.name, beats, alerts, annotation, fs, n / fs, rec.choice, tuple(gaps))


def write_annotations(record: str, fs: int, beats: list[Beat], alerts: list[Alert], out: Path,
                      extension: str, gaps: list[tuple[int, int]] = ()) -> Path:
    """Beats, alerts and gaps as a WFDB annotation file, samples at the record's rate."""
    import wfdb

    rows: list[tuple[int, int, str, str]] = []  # (sample, order, symbol, aux)
    for a, b in gaps:
        rows.append((a, 3, '"', f"gap:invalid samples, {(b - a) / fs:.3f} s"))
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

    Reference beats inside a gap of invalid samples are left out (``in_gaps`` says how many).
    Agreement counts the matched beats whose reference code is a label the
    model gave (for seed8 these are MIT codes; aami5 classes only match N, S,
    V, F, Q by name, so its figure is a rough one).
    """
    import wfdb
    from wfdb.processing import compare_annotations

    if not path.with_suffix(".atr").is_file():
        return None
    ref = wfdb.rdann(str(path), "atr")
    in_gap = np.zeros(ref.sample.size, dtype=bool)
    for a, b in analysis.gaps:
        in_gap |= (ref.sample >= a) & (ref.sample < b)
    keep = [i for i, s in enumerate(ref.symbol) if s in REFERENCE_BEATS and not in_gap[i]]
    skipped = sum(1 for i, s in enumerate(ref.symbol) if s in REFERENCE_BEATS and in_gap[i])
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
            "matched": cmp.tp, "missed": cmp.fn, "extra": cmp.fp, "label_agreement": agree, "in_gaps": skipped}


def describe_gaps(analysis: Analysis, limit: int = 8) -> str | None:
    """``invalid samples: 2 gaps, 12.5 s in all, at 100.0-104.0 s, 300.0-308.5 s`` (None without gaps)."""
    if not analysis.gaps:
        return None
    fs = analysis.fs
    where = ", ".join(f"{a / fs:.2f}-{b / fs:.2f} s" for a, b in analysis.gaps[:limit])
    more = f" and {len(analysis.gaps) - limit} more" if len(analysis.gaps) > limit else ""
    count = f"{len(analysis.gaps)} gap{'s' if len(analysis.gaps) != 1 else ''}"
    return f"invalid samples: {count}, {analysis.gap_seconds:.1f} s in all, at {where}{more} (not analysed)"


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
    parser.add_argument("--adaptation", metavar="FILE.npz",
                        help="a patient's head made by ecg-adapt for this model, on top of it")
    parser.add_argument("--extension", default="ecg", help="annotation file extension (default ecg)")
    parser.add_argument("--lead", metavar="NAME|INDEX",
                        help="the lead to analyse, by header name or 0-based index (default: MLII, II, V5, V1, "
                             "V2, V4, I by name, else the first signal)")
    parser.add_argument("--report", metavar="FILE.html", help="instead: a Holter-style HTML report over RECORD... "
                        "(WFDB, .edf, .csv with --rate HZ [--column NAME]); see gateway/tools/report.py")
    args = parser.parse_args(argv)
    from ..classify.adapt import AdaptedClassifier, load as load_adaptation
    from ..classify.model import ModelError, load_model

    try:
        classifier = load_model(args.model, args.scheme)
        if args.adaptation:
            classifier = AdaptedClassifier(classifier, load_adaptation(args.adaptation, classifier.metadata))
        analysis = analyze_record(args.record, classifier, args.out, extension=args.extension, lead=args.lead)
    except (ModelError, SignalError, FileNotFoundError, ValueError) as e:
        print(f"ecg-analyze: {e}", file=sys.stderr)
        return 2
    if analysis.lead is not None:
        print(f"lead: {analysis.lead.describe(LEAD_HINT)}")
    gaps = describe_gaps(analysis)
    if gaps:
        print(gaps)
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
              + (f", label agreement {100 * agree:.1f}%" if agree is not None else "")
              + (f"; {scored['in_gaps']} reference beats in the gaps not scored" if scored["in_gaps"] else ""))
    print(f"wrote {analysis.annotation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
