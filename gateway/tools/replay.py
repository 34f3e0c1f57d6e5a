"""``ecg-replay``: an Arduino stand-in that streams a WFDB record to the gateway.

It reads one lead of the record (:func:`gateway.signal.leads.choose_lead`'s
rule, or ``--lead NAME|INDEX``), resamples it to the device rate if asked, converts millivolts to the ADC
counts an AD8232 front end with the given gain and ADC would produce (the
exact inverse of the processor's conversion,
:meth:`gateway.processor.DeviceStream.mv_to_counts` -- so the gateway's
device entry must have the same ``gain``), and sends it in protocol v1
frames with sequence numbers: about ten frames a second of signal, at real
time or ``--speed`` times faster.  Error replies from the gateway are
printed; a close by the gateway ends the replay with its code.

**Invalid samples** (WFDB's missing-value code, NaN) are not sent: they are
what a device's lost samples are, so the replayer does what PROTOCOL.md
asks of a device that lost samples -- the frame before them may be short,
and the next frame's sequence number skips as many numbers as the invalid
samples would have filled frames -- and it keeps the schedule, so the next
frame leaves when its first sample is due.  The gateway counts a gap and
restarts its chain after it (no beat spans it), as ``ecg-analyze`` does.
Sending them flagged lead-off instead would raise a ``lead_off`` alert for
a hole in the recording.  The legacy form has no sequence numbers: there the
invalid samples are only skipped, and the gateway sees the hole as a stall
(if it lasts 2 s or more) or not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ..device import DeviceStream
from ..signal.leads import LeadChoice, invalid_runs, read_record
from ..service.protocol import encode_frame, encode_json_frame

#: Front-end gain the replayer assumes by default: MIT-BIH QRS complexes reach
#: 3-5 mV, beyond the kit's +-1.5 mV at 1100 V/V, so replayed records use 300 V/V (+-5.5 mV).
REPLAY_GAIN = 300.0
FRAMES_PER_SECOND = 10


@dataclass
class ReplayResult:
    frames: int = 0
    samples: int = 0
    errors: int = 0
    close_code: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class ReplaySignal:
    """What the replayer sends: ADC counts at ``rate``, which of them are valid, and the lead."""

    counts: np.ndarray  # int32 ADC counts; mid-scale (0 mV) where not valid
    valid: np.ndarray  # bool, False where the record has no valid sample
    rate: int
    lead: LeadChoice | None


def record_signal(record: str, rate: int | None = None, start: float = 0.0, duration: float | None = None,
                  gain: float = REPLAY_GAIN, bits: int = 12, lead: str | int | None = None) -> ReplaySignal:
    """One lead of the record (``lead``, else the standard rule) as ADC counts at ``rate`` (default: its own)."""
    from ..errors import SignalError

    header_fs = _record_fs(record)
    sampfrom = int(round(start * header_fs))
    sampto = None if duration is None else sampfrom + int(round(duration * header_fs))
    rec = read_record(record, sampfrom=sampfrom, sampto=sampto, lead=lead)
    if rec.signal.size == 0:
        raise SignalError(f"{record}: no samples between {start} s and {start + (duration or 0)} s")
    rate = rate or rec.fs
    mv, valid = rec.signal, np.isfinite(rec.signal)
    if rate != rec.fs:
        mv, valid = resample_valid(mv, valid, rec.fs, rate)
    stream = DeviceStream("replay", "replay", rate, adc_bits=bits, gain=gain)
    return ReplaySignal(stream.mv_to_counts(np.where(valid, mv, 0.0)), valid, rate, rec.choice)


def record_counts(record: str, rate: int | None = None, start: float = 0.0, duration: float | None = None,
                  gain: float = REPLAY_GAIN, bits: int = 12, lead: str | int | None = None) -> tuple[np.ndarray, int]:
    """:func:`record_signal`'s counts and rate (invalid samples as mid-scale, 0 mV)."""
    sig = record_signal(record, rate, start, duration, gain, bits, lead)
    return sig.counts, sig.rate


def resample_valid(mv: np.ndarray, valid: np.ndarray, fs: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``mv`` at ``fs`` to ``rate``, each valid stretch on its own (``resample_poly``), gaps kept in time.

    A stretch ``[a, b)`` at ``fs`` becomes ``[round(a * rate / fs), round(b * rate / fs))`` at ``rate``,
    so no filter tap reaches across a gap and the gaps stay where they were.
    """
    from scipy.signal import resample_poly

    ratio = Fraction(rate, fs)
    n = int(round(mv.size * rate / fs))
    out, ok = np.zeros(n), np.zeros(n, dtype=bool)
    edges = [0] + [e for run in invalid_runs(np.where(valid, 0.0, np.nan)) for e in run] + [mv.size]
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        lo, hi = int(round(a * rate / fs)), int(round(b * rate / fs))
        if k % 2 == 0 and b > a and hi > lo:  # even pieces are valid, odd ones invalid
            y = resample_poly(mv[a:b], ratio.numerator, ratio.denominator)
            y = np.pad(y, (0, max(0, hi - lo - y.size)), mode="edge")[: hi - lo]
            out[lo:hi], ok[lo:hi] = y, True
    return out, ok


@dataclass(frozen=True)
class PlannedFrame:
    seq: int
    start: int  # index of its first sample
    stop: int


def plan_frames(valid: np.ndarray, per_frame: int) -> list[PlannedFrame]:
    """Frames of at most ``per_frame`` valid samples; after invalid samples the ``seq`` skips the frames they fill.

    The frame before a gap may be short (PROTOCOL.md section 4); a gap of ``m`` samples skips
    ``ceil(m / per_frame)`` sequence numbers.
    """
    frames: list[PlannedFrame] = []
    seq = 0
    edges = [0] + [e for run in invalid_runs(np.where(valid, 0.0, np.nan)) for e in run] + [valid.size]
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if k % 2:  # invalid samples
            seq += math.ceil((b - a) / per_frame)
            continue
        for i in range(a, b, per_frame):
            frames.append(PlannedFrame(seq, i, min(i + per_frame, b)))
            seq += 1
    return frames


def _record_fs(record: str) -> int:
    import wfdb

    return int(wfdb.rdheader(record).fs)


def stream_url(url: str, rate: int, bits: int, fmt: str) -> str:
    """The stream URL with the declarations as query parameters (credentials go in headers)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}rate={rate}&bits={bits}&format={'legacy' if fmt == 'legacy' else 'batch'}"


async def replay(url: str, device: str, token: str, counts: np.ndarray, rate: int, *, bits: int = 12,
                 speed: float = 1.0, fmt: str = "binary", on_error: Callable[[dict], None] | None = None,
                 on_frame: Callable[[int, float], None] | None = None,
                 valid: np.ndarray | None = None) -> ReplayResult:
    """Stream ``counts`` as one device; returns what was sent and how the connection ended.

    ``speed`` <= 0 sends as fast as the connection takes it. ``on_frame(seq, sent_time)`` is
    called after each frame (benchmarks use it).  ``valid`` (bool per sample, default all):
    samples that are False are not sent, and the sequence numbers skip them (:func:`plan_frames`).
    """
    per_frame = max(1, int(round(rate / FRAMES_PER_SECOND)))
    frames = plan_frames(np.ones(counts.size, dtype=bool) if valid is None else np.asarray(valid, dtype=bool),
                         per_frame)
    per_sample = 1 / rate / speed if speed > 0 else 0.0
    result = ReplayResult()
    headers = {"X-ECG-Device": device, "X-ECG-Token": token}
    async with connect(stream_url(url, rate, bits, fmt), additional_headers=headers, compression=None) as ws:
        started = time.monotonic()  # the schedule starts when the stream is open
        listener = asyncio.create_task(_listen(ws, result, on_error))
        try:
            for frame in frames:
                seq = frame.seq
                due = started + frame.start * per_sample  # the schedule of the samples, gaps included
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                chunk = counts[frame.start:frame.stop]
                if fmt == "legacy":
                    for value in chunk:
                        await ws.send(str(int(value)))
                else:
                    await ws.send(encode_frame(seq, chunk) if fmt == "binary" else encode_json_frame(seq, chunk))
                result.frames += 1
                result.samples += chunk.size
                if on_frame:
                    on_frame(seq, time.time())
            await ws.close()
        except ConnectionClosed:
            pass
        finally:
            await asyncio.wait([listener], timeout=5)
            listener.cancel()
        result.close_code = ws.close_code
    result.seconds = time.monotonic() - started
    return result


async def _listen(ws, result: ReplayResult, on_error: Callable[[dict], None] | None) -> None:
    """Collect the gateway's error replies until the connection closes."""
    try:
        async for message in ws:
            try:
                reply = json.loads(message)
            except (TypeError, ValueError):
                reply = {"error": f"unexpected reply {message!r:.80}"}
            result.errors += 1
            if on_error:
                on_error(reply)
    except ConnectionClosed:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-replay", description="Stream a WFDB record to the gateway "
                                     "as an AD8232 + 12-bit ADC device would (firmware/PROTOCOL.md).")
    parser.add_argument("record", help="WFDB record path without extension, e.g. tests/fixtures/mitdb/e233")
    parser.add_argument("--url", default="ws://127.0.0.1:9000/v1/stream")
    parser.add_argument("--device", required=True, help="device id, as in the gateway config")
    parser.add_argument("--token", required=True, help="the device's token")
    parser.add_argument("--speed", type=float, default=1.0, help="times real time (0: as fast as possible)")
    parser.add_argument("--format", choices=("binary", "text", "legacy"), default="binary",
                        help="binary or JSON text batches, or the legacy one-integer-per-frame form")
    parser.add_argument("--rate", type=int, help="device sample rate, Hz (default: the record's)")
    parser.add_argument("--start", type=float, default=0.0, help="start this many seconds into the record")
    parser.add_argument("--duration", type=float, help="stream only this many seconds")
    parser.add_argument("--gain", type=float, default=REPLAY_GAIN,
                        help=f"front-end gain V/V used for mV -> counts (default {REPLAY_GAIN:g}; "
                             "the gateway's device entry must match)")
    parser.add_argument("--bits", type=int, default=12, help="ADC resolution (default 12)")
    parser.add_argument("--lead", metavar="NAME|INDEX",
                        help="the lead to send, by header name or 0-based index (default: MLII, II, V5, V1, "
                             "V2, V4, I by name, else the first signal)")
    args = parser.parse_args(argv)
    try:
        sig = record_signal(args.record, args.rate, args.start, args.duration, args.gain, args.bits, args.lead)
    except (OSError, ValueError) as e:
        print(f"ecg-replay: {e}", file=sys.stderr)
        return 2
    counts, rate = sig.counts, sig.rate
    print(f"ecg-replay: {args.record}: {counts.size / rate:.1f} s at {rate} Hz to {args.url} as {args.device} "
          f"({args.format}, x{args.speed:g})", file=sys.stderr)
    if sig.lead is not None:
        print(f"ecg-replay: lead: {sig.lead.describe('--lead to choose')}", file=sys.stderr)
    gaps = invalid_runs(np.where(sig.valid, 0.0, np.nan))
    if gaps:
        total = sum(b - a for a, b in gaps) / rate
        how = ("skipped, with no way to tell the gateway in the legacy form" if args.format == "legacy"
               else "not sent; the sequence numbers skip them")
        print(f"ecg-replay: invalid samples: {len(gaps)} gap{'s' if len(gaps) != 1 else ''}, {total:.1f} s in all, "
              f"first at {gaps[0][0] / rate:.1f} s ({how})", file=sys.stderr)

    def show(reply: dict) -> None:
        print(f"ecg-replay: gateway: {reply.get('error')} (seq {reply.get('seq')})", file=sys.stderr)

    try:
        result = asyncio.run(replay(args.url, args.device, args.token, counts, rate, bits=args.bits,
                                    speed=args.speed, fmt=args.format, on_error=show, valid=sig.valid))
    except InvalidHandshake as e:  # 401 / 400 with the gateway's reason
        print(f"ecg-replay: the gateway refused the connection: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"ecg-replay: {e}", file=sys.stderr)
        return 1
    print(f"ecg-replay: sent {result.frames} frames, {result.samples} samples in {result.seconds:.1f} s; "
          f"{result.errors} error replies; closed with {result.close_code}", file=sys.stderr)
    return 0 if result.close_code == 1000 and not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
