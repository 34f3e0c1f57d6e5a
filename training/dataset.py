"""Beat dataset from MIT-BIH: the gateway's own chain on every record, labelled by the reference.

For each record: read the preferred lead by name (MLII; 102 and 104 have
none and fall back to V5), run :func:`gateway.signal.chain.condition` and
:func:`gateway.signal.rpeaks.detect_rpeaks` exactly as the gateway does, match
each detection to a reference beat within 150 ms, and cut windows around
the *detected* peaks, so training sees what the Pi will see.  Nothing is
dropped silently: per record the stats count reference beats, detections,
matches, unmatched detections (false positives), missed reference beats
(with their symbols), beats in stretches annotated noisy for the chosen
lead (skipped) and beats too close to the record ends for a full window.
Each beat also gets its context features (:mod:`gateway.signal.context`: its RR
intervals and QRS shape against the patient's recent beats), computed over
all detections of the record, labelled or not, as the gateway computes
them over every peak it detects.

Windows, not images, are cached (float32 ``(n, 512)``, with the context
features ``(n, N_CONTEXT)``), one ``.npz`` per
record under a key made of ``CHAIN_VERSION`` and a hash of the code that
produces them, so a changed filter, detector or matching rule rebuilds the
cache instead of reusing stale windows.  Images are rendered on the fly
(:mod:`gateway.signal.raster` is fast), after any augmentation of the signal.

    ecg-build-dataset --data ../shared/data/mitdb --scheme aami5
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gateway.signal.chain import beat_windows, condition
from gateway.signal.leads import LEAD_PREFERENCE, choose_lead, read_record
from gateway.signal.context import context_features
from gateway.signal.spec import CHAIN_VERSION, MODEL_FS

from .labels import SCHEMES, get_scheme
from .reference import MATCH_WINDOW_S, match_beats, noisy_mask, read_reference

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "mitdb"
DEFAULT_CACHE = REPO_ROOT / ".cache"
#: Source files whose behaviour shapes the cached windows.
_CHAIN_SOURCES = ("gateway/signal/spec.py", "gateway/signal/chain.py", "gateway/signal/filters.py", "gateway/signal/resample.py",
                  "gateway/signal/stream.py", "gateway/signal/leads.py", "gateway/signal/rpeaks.py", "gateway/signal/context.py",
                  "training/reference.py", "training/labels.py", "training/dataset.py")


@dataclass
class RecordBeats:
    """The labelled beats of one record, as cut by the gateway chain."""

    record: str
    lead: str
    windows: np.ndarray  # float32 (n, WINDOW), filtered signal around each detected peak
    symbols: np.ndarray  # str (n,), MIT symbol of the matched reference beat
    peaks: np.ndarray  # int64 (n,), detected peak sample at MODEL_FS
    context: np.ndarray  # float32 (n, N_CONTEXT), context features of each beat (gateway.signal.context)
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.symbols.size)


def cache_key() -> str:
    """Identifies the chain that produced cached windows: its version plus a hash of its code."""
    digest = hashlib.sha256(CHAIN_VERSION.encode())
    for rel in _CHAIN_SOURCES:
        path = REPO_ROOT / rel
        digest.update(rel.encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return f"{CHAIN_VERSION}-{digest.hexdigest()[:12]}"


def list_records(data_dir: str | Path) -> list[str]:
    """Record names in ``data_dir`` that have both a header and reference annotations."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"MIT-BIH data directory {data_dir} does not exist "
                                "(pass --data, or --download to fetch it from PhysioNet)")
    names = sorted(p.stem for p in data_dir.glob("*.hea") if p.with_suffix(".atr").exists())
    if not names:
        raise FileNotFoundError(f"no WFDB records with .atr annotations in {data_dir}")
    return names


def build_record(path: str | Path, preference: tuple[str, ...] = LEAD_PREFERENCE) -> RecordBeats:
    """Run the chain on one record and label its detected beats (see the module docstring)."""
    import wfdb

    from gateway.signal.rpeaks import detect_rpeaks

    path = Path(path)
    header = wfdb.rdheader(str(path))
    signal_index = choose_lead(list(header.sig_name), preference=preference).index
    rec = read_record(path, preference=preference)
    if rec.fs != MODEL_FS:
        raise ValueError(f"{path.name}: reference annotations are at {rec.fs} Hz; "
                         f"this builder expects MIT-BIH's {MODEL_FS} Hz")
    y = condition(rec.signal, rec.fs)
    detections = np.asarray(detect_rpeaks(y, fs=MODEL_FS), dtype=np.int64)
    ref = read_reference(path)

    match = match_beats(detections, ref.beat_samples, round(MATCH_WINDOW_S * MODEL_FS))
    det_noisy = noisy_mask(detections, ref.noise_samples, ref.noise_subtypes, signal_index)
    ref_noisy = noisy_mask(ref.beat_samples, ref.noise_samples, ref.noise_subtypes, signal_index)
    matched = match.ref_of_detection >= 0
    missed_clean = match.missed[~ref_noisy[match.missed]]

    keep = matched & ~det_noisy
    windows, full = beat_windows(y, detections[keep])
    kept_det = np.flatnonzero(keep)[full]
    ref_idx = match.ref_of_detection[kept_det]
    stats = {
        "record": path.name,
        "lead": rec.lead,
        "signal_index": int(signal_index),
        "reference_beats": int(ref.beat_samples.size),
        "reference_in_noise": int(ref_noisy.sum()),
        "detections": int(detections.size),
        "detections_in_noise": int(det_noisy.sum()),
        "matched": int(matched.sum()),
        "matched_in_noise": int((matched & det_noisy).sum()),
        "unmatched_detections": int((~matched & ~det_noisy).sum()),
        "missed_reference": int(missed_clean.size),
        "missed_by_symbol": dict(Counter(ref.beat_symbols[missed_clean].tolist())),
        "edge_dropped": int((~full).sum()),
        "labelled": int(kept_det.size),
    }
    return RecordBeats(path.name, rec.lead, windows.astype(np.float32), ref.beat_symbols[ref_idx],
                       detections[kept_det], context_features(y, detections)[kept_det], stats)


def _cache_file(cache_dir: Path, record: str) -> Path:
    return cache_dir / "dataset" / cache_key() / f"{record}.npz"


def load_record(data_dir: str | Path, record: str, cache_dir: str | Path = DEFAULT_CACHE) -> RecordBeats:
    """A record's beats from the cache, building and caching them if absent or stale."""
    path = _cache_file(Path(cache_dir), record)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return RecordBeats(record, str(z["lead"]), z["windows"], z["symbols"], z["peaks"], z["context"],
                               json.loads(str(z["stats"])))
    beats = build_record(Path(data_dir) / record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, lead=beats.lead, windows=beats.windows, symbols=beats.symbols, peaks=beats.peaks,
             context=beats.context, stats=json.dumps(beats.stats))
    tmp.replace(path)
    return beats


def load_records(data_dir: str | Path, records: list[str] | None = None,
                 cache_dir: str | Path = DEFAULT_CACHE, progress: bool = True) -> dict[str, RecordBeats]:
    """Beats of ``records`` (default: every record in ``data_dir``), in record order."""
    from tqdm import tqdm

    names = records if records is not None else list_records(data_dir)
    bar = tqdm(names, desc="records", unit="rec", disable=not progress)
    out = {}
    for name in bar:
        bar.set_postfix_str(name)
        out[name] = load_record(data_dir, name, cache_dir)
    return out


def summarize(beats: dict[str, RecordBeats], scheme_name: str) -> dict:
    """Totals over records: match statistics and class counts under a label scheme."""
    scheme = get_scheme(scheme_name)
    totals: Counter = Counter()
    missed: Counter = Counter()
    classes: Counter = Counter()
    left_out: Counter = Counter()
    for rb in beats.values():
        for key, value in rb.stats.items():
            if isinstance(value, int) and key != "signal_index":
                totals[key] += value
        missed.update(rb.stats["missed_by_symbol"])
        labels = scheme.encode(rb.symbols)
        classes.update(scheme.classes[i] for i in labels[labels >= 0])
        left_out.update(rb.symbols[labels < 0].tolist())
    return {"records": len(beats), "totals": dict(totals), "missed_by_symbol": dict(missed),
            "class_counts": {c: classes[c] for c in scheme.classes},
            "left_out_by_symbol": dict(left_out)}


def ensure_data(data_dir: Path, download: bool) -> None:
    """Fetch MIT-BIH from PhysioNet into ``data_dir`` if asked to and it is missing."""
    if data_dir.is_dir() and any(data_dir.glob("*.hea")):
        return
    if not download:
        raise FileNotFoundError(f"no MIT-BIH records in {data_dir}; pass --download to fetch them "
                                "from PhysioNet (about 100 MB)")
    import wfdb

    data_dir.mkdir(parents=True, exist_ok=True)
    wfdb.dl_database("mitdb", str(data_dir))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build (or refresh) the cached MIT-BIH beat windows "
                                                 "and print match statistics and class counts.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="WFDB directory (default: %(default)s)")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="seed8", help="label scheme to count")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache directory (default: %(default)s)")
    parser.add_argument("--records", nargs="*", help="only these records (default: all in --data)")
    parser.add_argument("--download", action="store_true", help="download MIT-BIH into --data if absent")
    args = parser.parse_args(argv)

    ensure_data(args.data, args.download)
    beats = load_records(args.data, args.records, args.cache)
    print(f"{'record':>6} {'lead':>5} {'ref':>6} {'det':>6} {'match':>6} {'unmatched':>9} "
          f"{'missed':>6} {'noisy':>6} {'edge':>5} {'labelled':>8}")
    for rb in beats.values():
        s = rb.stats
        print(f"{rb.record:>6} {rb.lead:>5} {s['reference_beats']:>6} {s['detections']:>6} {s['matched']:>6} "
              f"{s['unmatched_detections']:>9} {s['missed_reference']:>6} {s['detections_in_noise']:>6} "
              f"{s['edge_dropped']:>5} {s['labelled']:>8}")
    print(json.dumps(summarize(beats, args.scheme), indent=2))


if __name__ == "__main__":
    main()
