"""Real-time factor of the whole stream processor on one core, with a per-stage breakdown.

    python -m bench.processor [--data ../shared/data/mitdb] [--record 208] [--model PATH] [--frames 36 360]
                              [--drift 0 2]

A 30-minute MIT-BIH record (the preferred lead, as 16-bit counts) is fed to
one :class:`gateway.processor.StreamProcessor` in frames of the given sizes
(36 samples = the ~10 frames/s a device sends at 360 Hz), one run per frame
size, in one process.  Each stage's objects are wrapped with timers, so the
breakdown is of the production code as it runs: lead checks, conditioner
(resample + filter), R-peak detector, flutter/fibrillation windows, beat
rendering, classification, alert policy, alert strips, and the rest (glue:
buffers, beat windows, events).  The classifier is the shipped int8 model
(``gateway/models/seed8.tflite``, one interpreter thread) or ``--model``; if
neither exists, a stand-in that returns "N" for every beat is used and the
output says so (then "classify" measures nothing).  ``--drift 0 2`` also runs
each frame size with the device's clock 2 % fast (frames arrive 2 % early), so
the timeline's rate estimate corrects it and the conditioner's retunable
resampler takes over after the first fit: the cost of clock correction, side
by side with the undisturbed run.  Target: >= 200x real time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import gateway.processor as processor_module  # noqa: E402
from gateway.tools.analyze import RECORD_FRONT_END  # noqa: E402
from gateway.events import Alert, Beat  # noqa: E402
from gateway.signal.leads import read_record  # noqa: E402
from gateway.device import DeviceStream  # noqa: E402
from gateway.processor import ProcessorConfig, StreamProcessor  # noqa: E402

STAGES = ("lead checks", "conditioner", "R-peak detector", "VF windows", "render beats", "classify",
          "alert policy", "alert strips")


class AllNormal:
    """Stand-in classifier when no model exists: every beat is N (classification cost not measured)."""

    labels, scheme, version = ("N",), "stand-in", "stand-in"

    def classify(self, images, context):
        return np.zeros(len(images), dtype=np.int64), np.ones((len(images), 1), dtype=np.float32)


def timed(clock: dict[str, float], stage: str, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[stage] += time.perf_counter() - t
    return wrapper


def instrument(proc: StreamProcessor, clock: dict[str, float]) -> None:
    """Wrap each stage of ``proc`` (and the module functions it calls) with a timer."""
    proc._lead.judge = timed(clock, "lead checks", proc._lead.judge)
    for name in ("process", "flush"):
        setattr(proc._conditioner, name, timed(clock, "conditioner", getattr(proc._conditioner, name)))
        setattr(proc._detector, name, timed(clock, "R-peak detector", getattr(proc._detector, name)))
    proc._vf.process = timed(clock, "VF windows", proc._vf.process)
    for name in ("beat", "rhythm", "advance", "lead", "segment_start", "segment_end"):
        setattr(proc.policy, name, timed(clock, "alert policy", getattr(proc.policy, name)))


def run_once(counts: np.ndarray, stream: DeviceStream, classifier, frame: int,
             drift: float = 0.0) -> tuple[float, dict, list, dict]:
    clock: dict[str, float] = defaultdict(float)
    proc = StreamProcessor(stream, classifier, ProcessorConfig(), start_time=0.0)
    instrument(proc, clock)
    classify = classifier.classify
    classifier.classify = timed(clock, "classify", classify)
    saved = processor_module.render_beats, processor_module.render_strip
    processor_module.render_beats = timed(clock, "render beats", saved[0])
    processor_module.render_strip = timed(clock, "alert strips", saved[1])
    events = []
    try:
        t = time.perf_counter()
        for i in range(0, counts.size, frame):
            events += proc.feed(counts[i:i + frame], (i + frame) / (stream.fs * (1 + drift)))
        events += proc.close(counts.size / (stream.fs * (1 + drift)))
        total = time.perf_counter() - t
    finally:
        processor_module.render_beats, processor_module.render_strip = saved
        classifier.classify = classify
    extra = proc.status(counts.size / stream.fs).extra
    return total, clock, events, {k: extra[k] for k in ("rate_estimate_hz", "rate_correction")}


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(root / ".." / "shared" / "data" / "mitdb"))
    parser.add_argument("--record", default="208")
    parser.add_argument("--model", default=None, help="a .tflite model (default: the shipped seed8)")
    parser.add_argument("--frames", type=int, nargs="+", default=[36, 360])
    parser.add_argument("--drift", type=float, nargs="+", default=[0.0],
                        help="device clock error(s) in per cent, each run side by side (e.g. 0 2)")
    args = parser.parse_args(argv)
    rec = read_record(Path(args.data) / args.record)
    stream = DeviceStream(rec.name, rec.name, rec.fs, **RECORD_FRONT_END)
    counts = stream.mv_to_counts(rec.signal)
    duration = counts.size / rec.fs
    from gateway.classify.model import ModelError, load_model

    try:
        classifier = load_model(args.model, num_threads=1)
        what = f"model {classifier.version} ({classifier.backend}, 1 thread)"
    except ModelError as e:
        classifier, what = AllNormal(), f"STAND-IN classifier (no model: {e}); 'classify' is not measured"
    print(f"record {rec.name} lead {rec.lead}: {duration / 60:.1f} min at {rec.fs} Hz; {what}")
    for drift in args.drift:
        for frame in args.frames:
            total, clock, events, rate = run_once(counts, stream, classifier, frame, drift / 100)
            beats = sum(isinstance(e, Beat) for e in events)
            alerts = sum(isinstance(e, Alert) for e in events)
            print(f"\nclock {drift:+g} %, frames of {frame} samples ({counts.size // frame} feed calls): "
                  f"{total:.2f} s for {duration:.0f} s of signal = {duration / total:.0f}x real time; {beats} beats, "
                  f"{alerts} alerts, {1e3 * total / max(beats, 1):.2f} ms per beat; {rate}")
            rest = total - sum(clock.values())
            for stage in STAGES + ("glue (rest)",):
                sec = rest if stage == "glue (rest)" else clock[stage]
                print(f"  {stage:16s} {sec:7.2f} s  {100 * sec / total:5.1f} %  {1e6 * sec / duration:8.1f} us per "
                      "second of signal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
