"""``ecg-analyze RECORD... --report FILE.html``: a Holter-style summary as one self-contained, printable HTML file.

Each input (WFDB record, EDF/EDF+ file, or CSV with ``--rate``) goes through
the gateway's own :class:`~gateway.processor.StreamProcessor` (as
``ecg-analyze`` does); several inputs make one report over their
concatenation in time order (by their start times when every input has
one, else in the order given).  The report holds: the recording span and
the analysable share, the heart-rate trend (min/mean/max per hour, per 5
min for records under 2 h) as inline SVG, beat counts by class per period,
ectopy (ventricular runs with the longest and fastest, couplets, bigeminy
and trigeminy episodes), pauses (the longest), atrial fibrillation episodes
and burden (from ``atrial_fibrillation`` alerts, where the alert policy has
them), flutter/fibrillation episodes, the signal-quality share, and a 10 s
strip for each finding on a standard ECG grid (25 mm/s, 10 mm/mV) embedded
as PNG.
"""

from __future__ import annotations

import argparse
import base64
import html
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..device import DeviceStream
from ..errors import SignalError
from ..events import Alert, Beat
from ..processor import ProcessorConfig, StreamProcessor
from ..signal.matching import FLUTTER_WAVE, REFERENCE_BEATS
from ..signal.spec import MODEL_FS
from .report_draw import strip_png, trend_svg
from .report_inputs import InputError, Source, load

RECORD_FRONT_END = dict(adc_bits=16, gain=165.0)  # as ecg-analyze: +-10 mV over 16 bits
AF = "atrial_fibrillation"
VENTRICULAR = {"V", "E"}
PAUSE_S = 2.0  # RR intervals at least this long are listed as pauses
FRAME_S = 10  # seconds per processor feed
MAX_STRIPS = 24


@dataclass
class Result:
    sources: list[Source]
    beats: list[Beat] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)  # clean share sampled per frame
    model: str = ""


# ---------------------------------------------------------------- analysis
#: rhythm aux strings of ``+`` annotations (gateway recordings, ecg-analyze) -> alert types
RHYTHM_TYPES = {"(VFL": "ventricular_fibrillation", "(VT": "ventricular_run", "(B": "bigeminy", "(T": "trigeminy",
                "(SBR": "bradycardia", "(SVTA": "tachycardia", "(AFIB": AF}
BEAT_CODES = REFERENCE_BEATS | {FLUTTER_WAVE}


def from_annotations(s: Source, extension: str) -> tuple[list[Beat], list[Alert]]:
    """Beats and alerts of a WFDB record from its annotation file (a recording's ``.gw``, ``ecg-analyze``'s ``.ecg``)."""
    import wfdb

    if s.path is None:
        raise InputError(f"{s.name}: --annotations needs WFDB records")
    try:
        ann = wfdb.rdann(str(s.path), extension)
    except (OSError, ValueError) as e:
        raise InputError(f"{s.path}.{extension}: cannot read the annotations: {' '.join(str(e).split())}") from None
    beats, alerts, prev, open_rhythm = [], [], None, []

    def alert(kind: str, t: float, state: str, start: float | None = None) -> Alert:
        return Alert("", s.name, s.name, kind, "", t if start is None else start, t, None, {}, "", "", state,
                     None, t if state == "cleared" else None)

    for sample, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note):
        t = s.offset + int(sample) / s.fs
        if sym in BEAT_CODES:
            beats.append(Beat(s.name, int(round((t - s.offset) * MODEL_FS)), t, sym, 1.0,
                              None if prev is None else t - prev))
            prev = t
        elif sym == "+" and aux in RHYTHM_TYPES:
            open_rhythm.append(RHYTHM_TYPES[aux])
            alerts.append(alert(RHYTHM_TYPES[aux], t, "raised"))
        elif sym == "+" and aux.startswith("(N"):
            alerts += [alert(kind, t, "cleared") for kind in open_rhythm]
            open_rhythm = []
        elif sym == '"' and aux.startswith("alert:"):
            kind, _, state = aux[6:].partition(":")
            alerts.append(alert(kind, t, "cleared" if state == "cleared" else "raised"))
    return beats, alerts


def analyze(sources: list[Source], classifier, annotations: str | None = None) -> Result:
    if all(s.start is not None for s in sources):
        sources = sorted(sources, key=lambda s: s.start)
        for s in sources:
            s.offset = s.start
    else:
        t = 0.0
        for s in sources:
            s.offset = t
            t += s.signal.size / s.fs
    result = Result(sources, model=classifier.version if classifier else f"beat labels from .{annotations}")
    for s in sources:
        if annotations:
            beats, alerts = from_annotations(s, annotations)
            result.beats += beats
            result.alerts += alerts
            continue
        stream = DeviceStream(s.name, s.name, s.fs, **RECORD_FRONT_END)
        proc = StreamProcessor(stream, classifier, ProcessorConfig(strips=False), start_time=s.offset)
        try:
            counts = stream.mv_to_counts(s.signal)
        except SignalError as e:
            raise InputError(f"{s.name}: {e}") from None
        step = FRAME_S * s.fs
        events = []
        for i in range(0, counts.size, step):
            chunk = counts[i:i + step]
            events += proc.feed(chunk, s.offset + (i + chunk.size) / s.fs)
            share = proc.policy.clean_share()
            if share is not None:
                result.quality.append(share)
        events += proc.close(s.offset + counts.size / s.fs)
        result.beats += [e for e in events if isinstance(e, Beat)]
        result.alerts += [e for e in events if isinstance(e, Alert)]
    return result


def episodes(alerts: list[Alert], kind: str, span_end: float) -> list[tuple[float, float]]:
    """(start, end) of each episode of ``kind`` (an open one ends at ``span_end``)."""
    out, open_at = [], None
    for a in sorted((a for a in alerts if a.type == kind), key=lambda a: (a.time, a.state != "raised")):
        if a.state == "raised" and open_at is None:
            open_at = a.start
        elif a.state == "cleared" and open_at is not None:
            out.append((open_at, a.end if a.end is not None else a.time))
            open_at = None
    if open_at is not None:
        out.append((open_at, span_end))
    return out


def runs_of(beats: list[Beat]) -> list[tuple[int, int]]:
    """(first index, length) of each stretch of consecutive ventricular beats within a segment."""
    out, i = [], 0
    while i < len(beats):
        if beats[i].label in VENTRICULAR:
            j = i + 1
            while j < len(beats) and beats[j].label in VENTRICULAR and beats[j].rr is not None:
                j += 1
            out.append((i, j - i))
            i = j
        else:
            i += 1
    return out


def summarize(r: Result) -> dict:
    start = min(s.offset for s in r.sources)
    end = max(s.offset + s.signal.size / s.fs for s in r.sources)
    recorded = sum(s.signal.size / s.fs for s in r.sources)
    lost = sum(e - s for kind in ("lead_off", "signal_lost", "poor_signal") for s, e in episodes(r.alerts, kind, end))
    beats = sorted(r.beats, key=lambda b: b.time)
    period = 3600.0 if end - start >= 2 * 3600 else 300.0
    nbins = max(1, int(np.ceil((end - start) / period)))
    bins = []
    rr = np.array([b.rr if b.rr is not None else np.nan for b in beats])
    times = np.array([b.time for b in beats])
    hr = 60.0 / rr
    ok = np.isfinite(hr) & (hr >= 20) & (hr <= 300)
    # an 8-beat running median of the instantaneous rate, so one ectopic beat is no minimum or maximum
    smooth = np.full(hr.size, np.nan)
    idx = np.flatnonzero(ok)
    if idx.size >= 8:
        vals = hr[idx]
        win = np.lib.stride_tricks.sliding_window_view(vals, 8)
        smooth[idx[7:]] = np.median(win, axis=1)
    for k in range(nbins):
        lo, hi = start + k * period, start + (k + 1) * period
        sel = (times >= lo) & (times < hi)
        s = smooth[sel]
        s = s[np.isfinite(s)]
        bins.append({"start": lo, "labels": Counter(b.label for b, m in zip(beats, sel) if m),
                     "min": float(s.min()) if s.size else None, "mean": float(s.mean()) if s.size else None,
                     "max": float(s.max()) if s.size else None})
    runs = runs_of(beats)
    vruns = []
    for i, n in runs:
        if n >= 3:
            rrs = [b.rr for b in beats[i + 1:i + n] if b.rr]
            vruns.append({"time": beats[i].time, "beats": n, "rate": 60.0 / np.mean(rrs) if rrs else None})
    couplets = [beats[i].time for i, n in runs if n == 2]
    pauses = sorted(({"time": b.time - b.rr, "rr": b.rr} for b in beats if b.rr is not None and b.rr >= PAUSE_S),
                    key=lambda p: -p["rr"])
    af_known = any(a.type == AF for a in r.alerts) or _policy_has(AF)
    af = episodes(r.alerts, AF, end)
    analysable = max(recorded - lost, 0.0)
    return {"start": start, "end": end, "recorded": recorded, "analysable": analysable, "period": period,
            "bins": bins, "beats": beats, "counts": Counter(b.label for b in beats), "vruns": vruns,
            "couplets": couplets, "pauses": pauses, "bigeminy": episodes(r.alerts, "bigeminy", end),
            "trigeminy": episodes(r.alerts, "trigeminy", end), "vf": episodes(r.alerts, "ventricular_fibrillation", end),
            "af_known": af_known, "af": af, "af_burden": (sum(e - s for s, e in af) / analysable) if analysable else 0.0,
            "quality": float(np.mean(r.quality)) if r.quality else None, "absolute": all(s.start for s in r.sources)}


def _policy_has(kind: str) -> bool:
    from ..alerts.types import ALERT_TYPES

    return kind in ALERT_TYPES


def _clock(t: float, summary: dict) -> str:
    if summary["absolute"]:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M")
    s = int(t - summary["start"])
    return f"{s // 3600}:{s // 60 % 60:02d}"


def _when(t: float, summary: dict) -> str:
    if summary["absolute"]:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    s = t - summary["start"]
    return f"+{int(s // 3600)}:{int(s // 60 % 60):02d}:{s % 60:04.1f}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _dur(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h")


# ---------------------------------------------------------------- the report
def render(r: Result, inputs: list[str]) -> str:
    s = summarize(r)
    e = html.escape
    span = s["end"] - s["start"]
    findings: list[tuple[str, float]] = []
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>ECG report</title><style>",
           "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
           "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}th{background:#eee}"
           "td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block}"
           ".strip{page-break-inside:avoid;margin:1em 0}@media print{body{margin:0}h2{page-break-after:avoid}}"
           "</style></head><body>",
           "<h1>ECG recording report</h1>",
           f"<p>Not a medical device: research software (ecg-edge), model {e(r.model)}. "
           f"Inputs: {e(', '.join(inputs))}.</p>",
           "<h2 id='summary'>Recording</h2><table>",
           f"<tr><td>start</td><td>{_when(s['start'], s)}</td></tr>",
           f"<tr><td>end</td><td>{_when(s['end'], s)}</td></tr>",
           f"<tr><td>span</td><td>{_dur(span)}</td></tr>",
           f"<tr><td>signal recorded</td><td>{_dur(s['recorded'])} ({100 * s['recorded'] / span:.1f} %)</td></tr>",
           f"<tr><td>analysable (recorded, lead on, signal not poor)</td><td>{_dur(s['analysable'])} "
           f"({100 * s['analysable'] / span:.1f} %)</td></tr>",
           f"<tr><td>signal quality (share of clean rhythm windows)</td><td>"
           f"{_pct(s['quality'])}"
           f"</td></tr>",
           f"<tr><td>beats</td><td>{len(s['beats'])}</td></tr></table>"]
    out.append("<h2 id='heart-rate'>Heart rate</h2>" + trend_svg(s, _clock))
    labels = sorted(s["counts"], key=lambda k: -s["counts"][k])
    per = "hour" if s["period"] == 3600 else "5 min"
    out.append(f"<h2 id='beats'>Beats by class per {per}</h2><table><tr><th>from</th><th>HR min</th><th>mean</th>"
               f"<th>max</th>" + "".join(f"<th>{e(k)}</th>" for k in labels) + "</tr>")
    fmt = lambda v: "" if v is None else f"{v:.0f}"  # noqa: E731
    for b in s["bins"]:
        out.append(f"<tr><td>{_clock(b['start'], s)}</td><td>{fmt(b['min'])}</td><td>{fmt(b['mean'])}</td>"
                   f"<td>{fmt(b['max'])}</td>" + "".join(f"<td>{b['labels'].get(k, 0)}</td>" for k in labels) + "</tr>")
    out.append("<tr><th>total</th><th></th><th></th><th></th>" + "".join(f"<th>{s['counts'][k]}</th>" for k in labels)
               + "</tr></table>")
    # ectopy
    v = s["vruns"]
    out.append("<h2 id='ectopy'>Ventricular ectopy</h2><table>"
               f"<tr><td>ventricular beats</td><td>{sum(s['counts'][k] for k in VENTRICULAR)}</td></tr>"
               f"<tr><td>couplets</td><td>{len(s['couplets'])}</td></tr>"
               f"<tr><td>runs (3 or more)</td><td>{len(v)}</td></tr>")
    if v:
        longest = max(v, key=lambda x: x["beats"])
        fastest = max((x for x in v if x["rate"]), key=lambda x: x["rate"], default=None)
        out.append(f"<tr><td>longest run</td><td>{longest['beats']} beats at {_when(longest['time'], s)}</td></tr>")
        findings.append((f"longest ventricular run: {longest['beats']} beats", longest["time"]))
        if fastest:
            out.append(f"<tr><td>fastest run</td><td>{fastest['rate']:.0f}/min ({fastest['beats']} beats) at "
                       f"{_when(fastest['time'], s)}</td></tr>")
            if fastest is not longest:
                findings.append((f"fastest ventricular run: {fastest['rate']:.0f}/min", fastest["time"]))
    if s["couplets"]:
        findings.append(("first couplet", s["couplets"][0]))
    for kind in ("bigeminy", "trigeminy"):
        eps = s[kind]
        out.append(f"<tr><td>{kind} episodes</td><td>{len(eps)}"
                   + (f", {_dur(sum(b - a for a, b in eps))} in all" if eps else "") + "</td></tr>")
        if eps:
            findings.append((f"{kind}", eps[0][0] + 2))
    out.append("</table>")
    # pauses
    p = s["pauses"]
    out.append(f"<h2 id='pauses'>Pauses</h2><p>RR intervals of {PAUSE_S:g} s or more: {len(p)}"
               + (f"; the longest {p[0]['rr']:.2f} s at {_when(p[0]['time'], s)}." if p else ".") + "</p>")
    if p:
        findings.append((f"longest pause: {p[0]['rr']:.2f} s", p[0]["time"] + p[0]["rr"] / 2))
    # AF and VF
    out.append("<h2 id='af'>Atrial fibrillation</h2>")
    if not s["af_known"]:
        out.append("<p>Not assessed: this gateway's alert policy has no atrial_fibrillation alert.</p>")
    else:
        out.append(f"<p>Episodes: {len(s['af'])}; burden {100 * s['af_burden']:.1f} % of the analysable time.</p>")
        out.append(_episode_table(s["af"], s))
        findings += [(f"atrial fibrillation ({_dur(b - a)})", a + 3) for a, b in s["af"][:5]]
    out.append(f"<h2 id='vf'>Ventricular flutter/fibrillation</h2><p>Episodes: {len(s['vf'])}.</p>"
               + _episode_table(s["vf"], s))
    findings += [(f"ventricular flutter/fibrillation ({_dur(b - a)})", a + 3) for a, b in s["vf"][:5]]
    # rates
    good = [b for b in s["bins"] if b["mean"] is not None]
    if good:
        lo = min(good, key=lambda b: b["min"])
        hi = max(good, key=lambda b: b["max"])
        findings += [(f"lowest heart rate period ({lo['min']:.0f}/min)", _rate_time(s, lo, "min")),
                     (f"highest heart rate period ({hi['max']:.0f}/min)", _rate_time(s, hi, "max"))]
    out.append("<h2 id='strips'>Strips</h2><p>25 mm/s, 10 mm/mV; 1 mm minor and 5 mm major lines; the blue bar is "
               "1 mV. Conditioned signal (baseline removed, 40 Hz low-pass); beat labels above the trace.</p>")
    for title, t in findings[:MAX_STRIPS]:
        png = strip_png(r, t, marks=s["beats"])
        if png:
            out.append(f"<div class='strip'><h3>{e(title)} &mdash; {_when(t, s)}</h3>"
                       f"<img alt='{e(title)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></div>")
    out.append("</body></html>")
    return "\n".join(out)


def _rate_time(s: dict, b: dict, which: str) -> float:
    beats = [x for x in s["beats"] if b["start"] <= x.time < b["start"] + s["period"] and x.rr]
    if not beats:
        return b["start"]
    pick = max(beats, key=lambda x: x.rr) if which == "min" else min(beats, key=lambda x: x.rr)
    return pick.time


def _episode_table(eps: list[tuple[float, float]], s: dict) -> str:
    if not eps:
        return ""
    rows = "".join(f"<tr><td>{_when(a, s)}</td><td>{_dur(b - a)}</td></tr>" for a, b in eps)
    return f"<table><tr><th>start</th><th>duration</th></tr>{rows}</table>"


def _record_paths(inputs: list[str]) -> list[str]:
    """The inputs with WFDB file names (``x.hea``, ``x.dat``, ``x.gw`` ...) made record paths, each once."""
    out = []
    for p in inputs:
        path = Path(p)
        if path.suffix.lower() not in (".edf", ".bdf", ".csv", ".txt") and path.suffix and \
                Path(f"{path.with_suffix('')}.hea").is_file():
            p = str(path.with_suffix(""))
        if p not in out:
            out.append(p)
    return out


def write_report(inputs: list[str], out: str | Path, classifier, rate=None, column=None,
                 annotations: str | None = None) -> dict:
    inputs = _record_paths(inputs)
    sources = [load(p, rate, column) for p in inputs]
    result = analyze(sources, classifier, annotations)
    Path(out).write_text(render(result, inputs))
    return summarize(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-analyze", description="ecg-analyze RECORD... --report FILE.html: "
                                     "a Holter-style HTML report over one or more records")
    parser.add_argument("records", nargs="+", help="WFDB records (path without extension), .edf files or .csv files")
    parser.add_argument("--report", required=True, metavar="FILE.html")
    parser.add_argument("--rate", type=float, help="sample rate of CSV inputs, Hz")
    parser.add_argument("--column", help="the ECG column of CSV inputs (by its header name), values in mV")
    parser.add_argument("--model", help="a .tflite model with its .json (default: the shipped one)")
    parser.add_argument("--scheme", default=None)
    parser.add_argument("--annotations", metavar="EXT", help="take beats and alerts from each WFDB record's "
                        "annotation file RECORD.EXT (a gateway recording's gw, ecg-analyze's ecg) instead of "
                        "running the processor: much faster; no signal-quality figure")
    args = parser.parse_args(argv)
    from ..classify.model import ModelError, load_model

    try:
        classifier = None if args.annotations else load_model(args.model, args.scheme)
        s = write_report(args.records, args.report, classifier, args.rate, args.column, args.annotations)
    except (InputError, ModelError) as e:
        print(f"ecg-analyze: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"ecg-analyze: {args.report}: cannot write the report: {e.strerror}", file=sys.stderr)
        return 2
    print(f"{len(s['beats'])} beats over {_dur(s['end'] - s['start'])}; wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
