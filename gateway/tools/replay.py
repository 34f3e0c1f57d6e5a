"""``ecg-replay``: an Arduino stand-in that streams a WFDB record to the gateway.

It reads the record's preferred lead (:func:`gateway.signal.leads.read_record`),
resamples it to the device rate if asked, converts millivolts to the ADC
counts an AD8232 front end with the given gain and ADC would produce (the
exact inverse of the processor's conversion,
:meth:`gateway.processor.DeviceStream.mv_to_counts` -- so the gateway's
device entry must have the same ``gain``), and sends it in protocol v1
frames with sequence numbers: about ten frames a second of signal, at real
time or ``--speed`` times faster.  Error replies from the gateway are
printed; a close by the gateway ends the replay with its code.
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

from ..signal.leads import read_record
from ..device import DeviceStream
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


def record_counts(record: str, rate: int | None = None, start: float = 0.0, duration: float | None = None,
                  gain: float = REPLAY_GAIN, bits: int = 12) -> tuple[np.ndarray, int]:
    """The record's preferred lead as ADC counts at ``rate`` (the record's own rate if None)."""
    from ..errors import SignalError

    header_fs = _record_fs(record)
    sampfrom = int(round(start * header_fs))
    sampto = None if duration is None else sampfrom + int(round(duration * header_fs))
    rec = read_record(record, sampfrom=sampfrom, sampto=sampto)
    if rec.signal.size == 0:
        raise SignalError(f"{record}: no samples between {start} s and {start + (duration or 0)} s")
    rate = rate or rec.fs
    mv = rec.signal
    if rate != rec.fs:
        from scipy.signal import resample_poly

        ratio = Fraction(rate, rec.fs)
        mv = resample_poly(mv, ratio.numerator, ratio.denominator)
    mv = np.nan_to_num(mv, nan=0.0)
    stream = DeviceStream("replay", "replay", rate, adc_bits=bits, gain=gain)
    return stream.mv_to_counts(mv), rate


def _record_fs(record: str) -> int:
    import wfdb

    return int(wfdb.rdheader(record).fs)


def stream_url(url: str, rate: int, bits: int, fmt: str) -> str:
    """The stream URL with the declarations as query parameters (credentials go in headers)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}rate={rate}&bits={bits}&format={'legacy' if fmt == 'legacy' else 'batch'}"


async def replay(url: str, device: str, token: str, counts: np.ndarray, rate: int, *, bits: int = 12,
                 speed: float = 1.0, fmt: str = "binary", on_error: Callable[[dict], None] | None = None,
                 on_frame: Callable[[int, float], None] | None = None) -> ReplayResult:
    """Stream ``counts`` as one device; returns what was sent and how the connection ended.

    ``speed`` <= 0 sends as fast as the connection takes it. ``on_frame(seq, sent_time)`` is
    called after each frame (benchmarks use it).
    """
    per_frame = max(1, int(round(rate / FRAMES_PER_SECOND)))
    period = per_frame / rate / speed if speed > 0 else 0.0
    result = ReplayResult()
    headers = {"X-ECG-Device": device, "X-ECG-Token": token}
    async with connect(stream_url(url, rate, bits, fmt), additional_headers=headers, compression=None) as ws:
        started = time.monotonic()  # the schedule starts when the stream is open
        listener = asyncio.create_task(_listen(ws, result, on_error))
        try:
            for seq in range(math.ceil(counts.size / per_frame)):
                due = started + seq * period
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                chunk = counts[seq * per_frame:(seq + 1) * per_frame]
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
    args = parser.parse_args(argv)
    try:
        counts, rate = record_counts(args.record, args.rate, args.start, args.duration, args.gain, args.bits)
    except (OSError, ValueError) as e:
        print(f"ecg-replay: {e}", file=sys.stderr)
        return 2
    print(f"ecg-replay: {args.record}: {counts.size / rate:.1f} s at {rate} Hz to {args.url} as {args.device} "
          f"({args.format}, x{args.speed:g})", file=sys.stderr)

    def show(reply: dict) -> None:
        print(f"ecg-replay: gateway: {reply.get('error')} (seq {reply.get('seq')})", file=sys.stderr)

    try:
        result = asyncio.run(replay(args.url, args.device, args.token, counts, rate, bits=args.bits,
                                    speed=args.speed, fmt=args.format, on_error=show))
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
