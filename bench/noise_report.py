"""docs/noise.md from the runs of ``bench.noise``: the prose of docs/noise-notes.md with its tables filled in."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from bench.rpeaks import Score
from gateway.alerts.types import SEVERITIES

REPO = Path(__file__).resolve().parents[1]
NOTES = REPO / "docs" / "noise-notes.md"
#: SNR (dB) -> (least QRS Se and +P in %, or None; most critical alerts per 30 min on a record without
#: ventricular runs or VF), from issue #14.
TARGETS = {12.0: (99.5, 1.0), 6.0: (None, 2.0)}


def pooled(runs: list) -> Score:
    total = Score()
    for r in runs:
        total.add(r.score)
    return total


def per_30min(run) -> float:
    return run.critical() / run.hours / 2


def _snr(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


def _groups(runs: list, snrs: list[float], noises: list[str]) -> list[tuple[str, str, list]]:
    """(SNR label, noise label, runs): clean, then per SNR all noises pooled and each noise."""
    out = [("clean", "-", [r for r in runs if r.snr is None])]
    for snr in snrs:
        at = [r for r in runs if r.snr == snr]
        out.append((_snr(snr), "all", at))
        out += [(_snr(snr), n, [r for r in at if r.noise == n]) for n in noises]
    return out


def summary_table(runs: list, quiet: set[str], snrs: list[float], noises: list[str]) -> list[str]:
    lines = ["| SNR | noise | SNR got (median) | beats | QRS Se % | QRS +P % | FN | FP | critical / 30 min, "
             "records without runs/VF: mean | worst (how many: record, noise) | all alerts / h |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for snr, noise, group in _groups(runs, snrs, noises):
        s = pooled(group)
        got = [r.realised_snr for r in group if r.realised_snr is not None]
        calm = [r for r in group if r.record in quiet]
        worst = max(calm, key=per_30min, default=None)
        worst_s = f"{per_30min(worst):.2f} ({worst.critical()}: {worst.record}, {worst.noise})" if worst else "-"
        mean = f"{np.mean([per_30min(r) for r in calm]):.2f}" if calm else "-"
        lines.append(f"| {snr} | {noise} | {f'{np.median(got):.1f}' if got else '-'} | "
                     f"{s.tp[150] + s.fn[150]} | {s.se(150):.2f} | {s.ppv(150):.2f} | {s.fn[150]} | {s.fp[150]} | "
                     f"{mean} | {worst_s} | {sum(len(r.alerts) for r in group) / sum(r.hours for r in group):.1f} |")
    return lines


def target_table(runs: list, quiet: set[str]) -> list[str]:
    lines = ["| target (issue #14) | measured | margin | met |", "|---|---|---:|---|"]
    for snr, (least, most) in TARGETS.items():
        at = [r for r in runs if r.snr == snr]
        if not at:
            continue
        s = pooled(at)
        if least is not None:
            for name, value in (("Se", s.se(150)), ("+P", s.ppv(150))):
                worst_noise = min({r.noise for r in at},
                                  key=lambda n: pooled([r for r in at if r.noise == n]).se(150) if name == "Se"
                                  else pooled([r for r in at if r.noise == n]).ppv(150))
                w = pooled([r for r in at if r.noise == worst_noise])
                wv = w.se(150) if name == "Se" else w.ppv(150)
                lines.append(f"| {snr:g} dB: QRS {name} >= {least} % (pooled over records and noises) | "
                             f"{value:.2f} % (worst noise {worst_noise}: {wv:.2f} %) | {value - least:+.2f} | "
                             f"{'yes' if value >= least else 'no'} |")
        calm = [r for r in at if r.record in quiet]
        clean = [r for r in runs if r.snr is None and r.record in quiet]
        if calm:
            worst = max(calm, key=per_30min)
            w = per_30min(worst)
            base = (f"; clean records: mean {np.mean([per_30min(r) for r in clean]):.2f}, worst "
                    f"{max(per_30min(r) for r in clean):.2f}") if clean else ""
            lines.append(f"| {snr:g} dB: at most {most:g} critical alert{'' if most == 1 else 's'} per 30 min on a record without ventricular "
                         f"runs or VF (every record x noise) | worst {w:.2f} ({worst.critical()} in "
                         f"{worst.hours * 60:.0f} min: {worst.record}, {worst.noise}); "
                         f"mean {np.mean([per_30min(r) for r in calm]):.2f}{base} | {most - w:+.2f} | "
                         f"{'yes' if w <= most else 'no'} |")
    return lines


def severity_table(runs: list, snrs: list[float], noises: list[str]) -> list[str]:
    lines = ["| SNR | noise | hours | " + " | ".join(SEVERITIES) + " |", "|---|---|---:|" + "---:|" * len(SEVERITIES)]
    for snr, noise, group in _groups(runs, snrs, noises):
        hours = sum(r.hours for r in group)
        counts = Counter(a.severity for r in group for a in r.alerts)
        lines.append(f"| {snr} | {noise} | {hours:.2f} | " + " | ".join(f"{counts[s] / hours:.2f}" for s in SEVERITIES)
                     + " |")
    return lines


def type_table(runs: list, snrs: list[float], noises: list[str]) -> list[str]:
    types = sorted({a.type for r in runs for a in r.alerts})
    if not types:
        return ["No alert was raised in any run."]
    lines = ["| SNR | noise | " + " | ".join(types) + " |", "|---|---|" + "---:|" * len(types)]
    for snr, noise, group in _groups(runs, snrs, noises):
        hours = sum(r.hours for r in group)
        counts = Counter(a.type for r in group for a in r.alerts)
        lines.append(f"| {snr} | {noise} | " + " | ".join(f"{counts[t] / hours:.2f}" if counts[t] else ""
                                                          for t in types) + " |")
    return lines


def record_table(infos: list) -> list[str]:
    lines = ["| record | lead | QRS amplitude (nst), mV | reference ventricular rhythm "
             "| critical-alert target applies |", "|---|---|---:|---|---|"]
    for i in infos:
        lines.append(f"| {i.record} | {i.lead} | {i.qrs_mv:.2f} | {i.kind} | {'yes' if i.quiet else 'no'} |")
    return lines


def in_noise(t: float, segments_start: float = 300.0, segment: float = 120.0) -> bool:
    """Whether record time ``t`` lies in a noisy segment of the protocol."""
    return t >= segments_start and int((t - segments_start) // segment) % 2 == 0


def critical_list(runs: list, quiet: set[str], snrs: tuple[float, ...] = (12.0, 6.0)) -> list[str]:
    rows = [(r, a) for r in runs if r.record in quiet and r.snr in snrs for a in r.alerts if a.severity == "critical"]
    rows += [(r, a) for r in runs if r.record in quiet and r.snr is None for a in r.alerts if a.severity == "critical"]
    if not rows:
        return ["None: no critical alert on a record without ventricular runs or VF at these SNRs."]
    lines = ["| record | noise | SNR | raised at (s) | in a noisy segment | type | beats in its window | message |",
             "|---|---|---|---:|---|---|---|---|"]
    for r, a in rows:
        beats = ", ".join(f"{k} {v}" for k, v in sorted(a.beat_counts.items()))
        lines.append(f"| {r.record} | {r.noise} | {_snr(r.snr)} | {a.time:.1f} | "
                     f"{'yes' if in_noise(a.start) else 'no'} | {a.type} | {beats} | {a.message} |")
    return lines


def per_record_tables(infos: list, runs: list) -> list[str]:
    lines: list[str] = []
    for info in infos:
        mine = [r for r in runs if r.record == info.record]
        lines += [f"### {info.record} ({info.kind})", "",
                  "| noise | SNR | SNR got | Se % | +P % | FN | FP | alerts / h | critical | per 30 min | raised |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in mine:
            s = r.score
            raised = ", ".join(f"{t} {n}" for t, n in sorted(Counter(a.type for a in r.alerts).items()))
            got = "-" if r.realised_snr is None else f"{r.realised_snr:.1f}"
            lines.append(f"| {r.noise} | {_snr(r.snr)} | {got} | {s.se(150):.2f} | {s.ppv(150):.2f} | {s.fn[150]} | "
                         f"{s.fp[150]} | {r.per_hour():.1f} | {r.critical()} | {per_30min(r):.2f} | {raised} |")
        lines.append("")
    return lines


def write_doc(path: Path, command: str, infos: list, runs: list, snrs: list[float], noises: list[str],
              channel: int, model: str, wall: float) -> str:
    """Fill docs/noise-notes.md's ``<!-- NAME -->`` marks with the tables and write ``path``; returns the text."""
    quiet = {i.record for i in infos if i.quiet}
    tables = {"TARGETS": target_table(runs, quiet), "SUMMARY": summary_table(runs, quiet, snrs, noises),
              "RECORDS": record_table(infos), "SEVERITY": severity_table(runs, snrs, noises),
              "TYPES": type_table(runs, snrs, noises), "CRITICAL": critical_list(runs, quiet),
              "PER_RECORD": per_record_tables(infos, runs)}
    text = NOTES.read_text(encoding="utf-8")
    for key, lines in tables.items():
        text = text.replace(f"<!-- {key} -->", "\n".join(lines))
    header = (f"<!-- Made by `{command}` from the repository root (model {model}, nstdb channel {channel}, "
              f"one worker, wall time {wall:.0f} s on the shared 2-core machine). "
              f"Edit docs/noise-notes.md, not this file. -->")
    text = f"{header}\n{text}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text
