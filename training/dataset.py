"""Beat dataset from MIT-BIH and other databases: the gateway's own chain on every record, labelled by the reference.

For each record: read the lead its database is read in (:func:`lead_preference`),
optionally add recorded electrode noise to the raw signal
(:mod:`training.noise`), run :func:`gateway.signal.chain.condition` (which
resamples any rate to 360 Hz: svdb is recorded at 128 Hz) and
:func:`gateway.signal.rpeaks.detect_rpeaks` exactly as the gateway does,
match each detection to a reference beat within 150 ms (reference samples
brought to 360 Hz), and cut windows around the *detected* peaks, so
training sees what the Pi will see.  Nothing is dropped silently: per
record the stats count reference beats, detections,
matches, unmatched detections (false positives), missed reference beats
(with their symbols), beats in stretches annotated noisy for the chosen
lead (skipped) and beats too close to the record ends for a full window.
Each beat also gets its context features (:mod:`gateway.signal.context`: its RR
intervals and QRS shape against the patient's recent beats), computed over
all detections of the record, labelled or not, as the gateway computes
them over every peak it detects.

Databases live side by side under one data root (``../shared/data/mitdb``,
``.../svdb``, and ``.../nstdb`` for the noise).  A record is named by its
database and number, ``svdb/800``; MIT-BIH records keep their bare numbers
(``100``), the names every published MIT-BIH split uses.  svdb's labels
follow MIT-BIH's conventions, so the same label schemes apply (seed8 has
no ``S`` class, so svdb's ``S`` beats are left out of seed8).

Windows, not images, are cached (float32 ``(n, 512)``, with the context
features ``(n, N_CONTEXT)``), one ``.npz`` per
record (and per noisy copy) under a key made of ``CHAIN_VERSION`` and a hash of the code that
produces them, so a changed filter, detector or matching rule rebuilds the
cache instead of reusing stale windows.  Images are rendered on the fly
(:mod:`gateway.signal.raster` is fast), after any augmentation of the signal.

    ecg-build-dataset --databases mitdb svdb --scheme aami5
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
from gateway.signal.matching import MATCH_WINDOW_S, match_beats
from gateway.signal.spec import CHAIN_VERSION, MODEL_FS

from .labels import SCHEMES, get_scheme
from .noise import NoiseSpec, add_noise
from .reference import noisy_mask, read_reference

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where the databases sit, one directory each (mitdb, svdb, nstdb, ...).
DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
DEFAULT_DATA = DATA_ROOT / "mitdb"
DEFAULT_CACHE = REPO_ROOT / ".cache"
#: Beat-labelled databases the builder reads.
DATABASES = ("mitdb", "svdb")
#: The noise database (training.noise), under the same root.
NOISE_DATABASE = "nstdb"
#: Source files whose behaviour shapes the cached windows.
_CHAIN_SOURCES = ("gateway/signal/spec.py", "gateway/signal/chain.py", "gateway/signal/filters.py",
                  "gateway/signal/resample.py", "gateway/signal/stream.py", "gateway/signal/leads.py",
                  "gateway/signal/rpeaks.py", "gateway/signal/context.py", "training/reference.py",
                  "training/labels.py", "training/dataset.py", "training/noise.py")


def lead_preference(database: str) -> tuple[str, ...]:
    """The lead a database's records are read in, by header name, and why.

    * ``mitdb``: the gateway's preference (MLII, the lead closest to the
      AD8232's and the one the model learns on; V5 where 102 and 104 have
      no MLII).
    * ``svdb``: its headers name only ``ECG1`` and ``ECG2``, no standard
      lead; ``ECG1`` is the one its annotators mostly read, so the labels
      are best founded on it.  Passed explicitly, not left to a positional
      fallback.
    """
    if database == "mitdb":
        return LEAD_PREFERENCE
    if database == "svdb":
        return ("ECG1",)
    raise ValueError(f"no lead rule for database {database!r}; known: {list(DATABASES)}")


def record_id(database: str, name: str) -> str:
    """A record's name across databases: ``100`` for MIT-BIH, ``svdb/800`` for the others."""
    return name if database == "mitdb" else f"{database}/{name}"


def parse_record_id(record: str) -> tuple[str, str]:
    """``(database, name)`` of a record id made by :func:`record_id`."""
    database, sep, name = record.rpartition("/")
    return (database if sep else "mitdb"), name


@dataclass
class RecordBeats:
    """The labelled beats of one record (or of one noisy copy of it), as cut by the gateway chain."""

    record: str  # record id (the patient), see record_id
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
        raise FileNotFoundError(f"data directory {data_dir} does not exist "
                                "(pass --data-root, or --download to fetch MIT-BIH from PhysioNet)")
    names = sorted(p.stem for p in data_dir.glob("*.hea") if p.with_suffix(".atr").exists())
    if not names:
        raise FileNotFoundError(f"no WFDB records with .atr annotations in {data_dir}")
    return names


def database_records(data_root: str | Path, databases: tuple[str, ...] | list[str]) -> list[str]:
    """Record ids of every annotated record of ``databases`` under ``data_root``."""
    return [record_id(db, name) for db in databases for name in list_records(Path(data_root) / db)]


def build_record(path: str | Path, database: str = "mitdb", preference: tuple[str, ...] | None = None,
                 noise: NoiseSpec | None = None, noise_dir: str | Path | None = None) -> RecordBeats:
    """Run the chain on one record (plus ``noise``, if given) and label its detected beats (module docstring)."""
    import wfdb

    from gateway.signal.rpeaks import detect_rpeaks

    path = Path(path)
    preference = preference or lead_preference(database)
    header = wfdb.rdheader(str(path))
    signal_index = choose_lead(list(header.sig_name), preference=preference).index
    rec = read_record(path, preference=preference)
    ref = read_reference(path)
    signal = rec.signal
    if noise is not None:
        if noise_dir is None:
            raise ValueError("noise_dir is needed to add noise")
        signal = add_noise(signal, rec.fs, ref.beat_samples, noise, noise_dir)
    y = condition(signal, rec.fs)
    detections = np.asarray(detect_rpeaks(y, fs=MODEL_FS), dtype=np.int64)
    # Reference samples at the record's rate -> the chain's 360 Hz (the chain's output n is at n / 360 s).
    to_model = MODEL_FS / rec.fs
    ref_beats = np.round(ref.beat_samples * to_model).astype(np.int64)
    ref_noise = np.round(ref.noise_samples * to_model).astype(np.int64)

    match = match_beats(detections, ref_beats, round(MATCH_WINDOW_S * MODEL_FS))
    det_noisy = noisy_mask(detections, ref_noise, ref.noise_subtypes, signal_index)
    ref_noisy = noisy_mask(ref_beats, ref_noise, ref.noise_subtypes, signal_index)
    matched = match.ref_of_detection >= 0
    missed_clean = match.missed[~ref_noisy[match.missed]]

    keep = matched & ~det_noisy
    windows, full = beat_windows(y, detections[keep])
    kept_det = np.flatnonzero(keep)[full]
    ref_idx = match.ref_of_detection[kept_det]
    stats = {
        "record": record_id(database, path.name),
        "database": database,
        "fs": int(rec.fs),
        "lead": rec.lead,
        "signal_index": int(signal_index),
        "noise": noise.tag if noise else None,
        "reference_beats": int(ref_beats.size),
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
    return RecordBeats(record_id(database, path.name), rec.lead, windows.astype(np.float32),
                       ref.beat_symbols[ref_idx], detections[kept_det],
                       context_features(y, detections)[kept_det], stats)


def beats_key(record: str, noise: NoiseSpec | None = None) -> str:
    """Key of a record's beats (clean, or one noisy copy) in caches and in :func:`load_records`' result."""
    return record if noise is None else f"{record}@{noise.tag}"


def _cache_file(cache_dir: Path, record: str, noise: NoiseSpec | None) -> Path:
    return cache_dir / "dataset" / cache_key() / f"{beats_key(record, noise)}.npz"


def load_record(data_root: str | Path, record: str, cache_dir: str | Path = DEFAULT_CACHE,
                noise: NoiseSpec | None = None) -> RecordBeats:
    """A record's beats (``noise`` added, if given), from the cache or built and cached if absent or stale."""
    path = _cache_file(Path(cache_dir), record, noise)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return RecordBeats(record, str(z["lead"]), z["windows"], z["symbols"], z["peaks"], z["context"],
                               json.loads(str(z["stats"])))
    database, name = parse_record_id(record)
    beats = build_record(Path(data_root) / database / name, database, noise=noise,
                         noise_dir=Path(data_root) / NOISE_DATABASE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, lead=beats.lead, windows=beats.windows, symbols=beats.symbols, peaks=beats.peaks,
             context=beats.context, stats=json.dumps(beats.stats))
    tmp.replace(path)
    return beats


def load_records(data_root: str | Path, records: list[str], cache_dir: str | Path = DEFAULT_CACHE,
                 progress: bool = True, noise: list[NoiseSpec] | None = None) -> dict[str, RecordBeats]:
    """Beats of ``records`` in order, keyed by :func:`beats_key`; ``noise``, if given, is one spec per record."""
    from tqdm import tqdm

    specs = noise if noise is not None else [None] * len(records)
    if len(specs) != len(records):
        raise ValueError(f"{len(records)} records but {len(specs)} noise specs")
    bar = tqdm(list(zip(records, specs)), desc="records", unit="rec", disable=not progress)
    out = {}
    for name, spec in bar:
        bar.set_postfix_str(beats_key(name, spec))
        out[beats_key(name, spec)] = load_record(data_root, name, cache_dir, spec)
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
            if isinstance(value, int) and key not in ("signal_index", "fs"):
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
    parser = argparse.ArgumentParser(description="Build (or refresh) the cached beat windows of MIT-BIH and "
                                                 "the other databases, and print match statistics and class counts.")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT,
                        help="directory holding one WFDB directory per database (default: %(default)s)")
    parser.add_argument("--databases", nargs="+", choices=DATABASES, default=["mitdb"])
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="seed8", help="label scheme to count")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache directory (default: %(default)s)")
    parser.add_argument("--records", nargs="*", help="only these record ids, e.g. 100 svdb/800 (default: all)")
    parser.add_argument("--download", action="store_true", help="download MIT-BIH into DATA_ROOT/mitdb if absent")
    args = parser.parse_args(argv)

    ensure_data(args.data_root / "mitdb", args.download and "mitdb" in args.databases)
    beats = load_records(args.data_root, args.records or database_records(args.data_root, args.databases), args.cache)
    print(f"{'record':>9} {'lead':>5} {'ref':>6} {'det':>6} {'match':>6} {'unmatched':>9} "
          f"{'missed':>6} {'noisy':>6} {'edge':>5} {'labelled':>8}")
    for rb in beats.values():
        s = rb.stats
        print(f"{rb.record:>9} {rb.lead:>5} {s['reference_beats']:>6} {s['detections']:>6} {s['matched']:>6} "
              f"{s['unmatched_detections']:>9} {s['missed_reference']:>6} {s['detections_in_noise']:>6} "
              f"{s['edge_dropped']:>5} {s['labelled']:>8}")
    print(json.dumps(summarize(beats, args.scheme), indent=2))


if __name__ == "__main__":
    main()
