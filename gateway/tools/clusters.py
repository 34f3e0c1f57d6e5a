"""``python -m gateway.tools.clusters``: the beat clusters of a stretch of a recording, and their labels.

The console's calibration page runs this as a subprocess (so the console
itself never loads numpy, scipy or wfdb):

* ``clusters RECORD --from S --to S --out FILE.json [--annotator gw] [--max-clusters 8]``:
  the beats the gateway annotated in ``[S, S)`` of a recording (its ``.gw``
  file), each cut as a window of 0.25 s before to 0.4 s after its R peak,
  with the window's median subtracted (baseline), grouped by Ward
  hierarchical clustering of the windows (Euclidean, so amplitude counts as
  well as shape: a wide, tall V beat is far from a narrow N beat) into at
  most ``--max-clusters`` clusters.  For each cluster: its size, its
  template (the median window, µV), what the gateway labelled its beats,
  and the beats' samples.  Clusters come largest first.
* ``label FILE.json --labels 1=N,2=V,3=- --annotator cal --dir DIR``: the
  clinician's label per cluster (``-``: leave those beats out) written as a
  WFDB annotation file ``DIR/RECORD.cal`` of the labelled beats, with
  ``DIR/RECORD.hea`` and ``.dat`` linked to the recording, so that
  ``ecg-adapt DIR/RECORD --annotator cal --from S --to S`` reads both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from ..signal.matching import REFERENCE_BEATS

#: Labels a clinician may give a cluster (MIT-BIH codes: normal, supraventricular, ventricular, fusion, unknown).
LABELS = ("N", "A", "V", "F", "Q")
PRE_S, POST_S = 0.25, 0.4
MAX_SPAN_S = 3600.0  # Ward clustering is quadratic in the beats: an hour (~5,000 beats) at most


class ClusterError(ValueError):
    """One line, for the page."""


def beat_clusters(record: str, start: float, stop: float, annotator: str = "gw", max_clusters: int = 8) -> dict:
    import wfdb
    from scipy.cluster.hierarchy import fcluster, linkage

    if not stop > start >= 0:
        raise ClusterError(f"the stretch {start:g}..{stop:g} s is empty")
    if stop - start > MAX_SPAN_S:
        raise ClusterError(f"choose at most {MAX_SPAN_S / 60:g} minutes (got {(stop - start) / 60:.1f})")
    try:
        header = wfdb.rdheader(record)
        fs = float(header.fs)
        first, last = int(start * fs), min(int(stop * fs), header.sig_len)
        if first >= last:
            raise ClusterError(f"the record is {header.sig_len / fs:.0f} s long; the stretch starts after it")
        signal = wfdb.rdrecord(record, sampfrom=first, sampto=last, channels=[0]).p_signal[:, 0]
        ann = wfdb.rdann(record, annotator, sampfrom=first, sampto=last)
    except (OSError, ValueError) as e:
        raise ClusterError(f"{Path(record).name}: cannot read the recording: {e}") from None
    pre, post = int(PRE_S * fs), int(POST_S * fs)
    keep = [(s, sym) for s, sym in zip(ann.sample, ann.symbol)
            if sym in REFERENCE_BEATS and s - first - pre >= 0 and s - first + post <= signal.size]
    if len(keep) < 2:
        raise ClusterError(f"only {len(keep)} beats in {start:g}..{stop:g} s: choose a longer stretch")
    samples = np.array([s for s, _ in keep])
    windows = np.stack([signal[s - first - pre:s - first + post] for s in samples])
    windows = np.nan_to_num(windows - np.median(windows, axis=1, keepdims=True))
    groups = fcluster(linkage(windows, method="ward"), t=min(max_clusters, len(keep)), criterion="maxclust")
    clusters = []
    for g in sorted(set(groups), key=lambda g: -int((groups == g).sum())):
        members = groups == g
        clusters.append({"count": int(members.sum()),
                         "template": np.rint(np.median(windows[members], axis=0) * 1000).astype(int).tolist(),
                         "gateway_labels": dict(Counter(sym for (_, sym), m in zip(keep, members) if m)),
                         "samples": samples[members].tolist()})
    for i, c in enumerate(clusters, 1):
        c["id"] = i
    return {"record": str(record), "fs": fs, "from": start, "to": stop, "pre_s": PRE_S, "post_s": POST_S,
            "beats": len(keep), "clusters": clusters}


def write_labels(found: dict, labels: dict[int, str], annotator: str, folder: Path) -> tuple[Path, Counter]:
    """The labelled beats as ``folder/RECORD.<annotator>``, the record's files linked beside it."""
    import wfdb

    record = Path(found["record"])
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("hea", "dat"):
        link = folder / f"{record.name}.{ext}"
        if not link.exists():
            link.symlink_to(record.with_suffix(f".{ext}").resolve())
    beats = sorted((s, labels[c["id"]]) for c in found["clusters"] if labels.get(c["id"], "-") in LABELS
                   for s in c["samples"])
    if not beats:
        raise ClusterError("no cluster has a label: nothing to write")
    wfdb.wrann(record.name, annotator, np.array([s for s, _ in beats]), [sym for _, sym in beats],
               write_dir=str(folder), fs=found["fs"])
    return folder / f"{record.name}.{annotator}", Counter(sym for _, sym in beats)


def parse_labels(text: str) -> dict[int, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, _, label = part.partition("=")
        if not key.isdigit() or label not in (*LABELS, "-"):
            raise ClusterError(f"label {part!r}: expected CLUSTER=one of {', '.join(LABELS)} or -")
        out[int(key)] = label
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.tools.clusters", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("clusters")
    p.add_argument("record")
    p.add_argument("--from", dest="start", type=float, required=True)
    p.add_argument("--to", dest="stop", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--annotator", default="gw")
    p.add_argument("--max-clusters", type=int, default=8)
    p = sub.add_parser("label")
    p.add_argument("clusters")
    p.add_argument("--labels", required=True)
    p.add_argument("--annotator", default="cal")
    p.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "clusters":
            found = beat_clusters(args.record, args.start, args.stop, args.annotator, args.max_clusters)
            Path(args.out).write_text(json.dumps(found))
            print(f"{found['beats']} beats in {len(found['clusters'])} clusters")
        else:
            found = json.loads(Path(args.clusters).read_text())
            path, counts = write_labels(found, parse_labels(args.labels), args.annotator, Path(args.dir))
            print(f"wrote {path}: {sum(counts.values())} beats ({', '.join(f'{k} {v}' for k, v in counts.most_common())})")
    except (ClusterError, OSError) as e:
        print(f"clusters: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
