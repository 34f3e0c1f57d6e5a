"""The ECG stream protocol v1 (firmware/PROTOCOL.md), sans I/O.

The WebSocket server (:mod:`gateway.service.server`) and the replayer
(:mod:`gateway.tools.replay`) share this module, so the gateway parses exactly
what the stand-in device writes.  Nothing here touches a socket or a clock:
handshakes and frames go in, typed values or errors naming the problem
come out.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import struct
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal, Mapping
from urllib.parse import parse_qs, urlsplit

import numpy as np


PROTOCOL_VERSION = 1
PATH = "/v1/stream"
MAGIC = 0xEC
#: magic, version, flags, reserved, seq, count, reserved (little-endian, 12 bytes).
HEADER = struct.Struct("<BBBBIHH")
MAX_COUNT = 1024
SEQ_MOD = 2**32
FLAG_LO_PLUS = 0x01
FLAG_LO_MINUS = 0x02
DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LEGACY_SAMPLE = re.compile(r"\s*([0-9]{1,6})\s*")

Format = Literal["batch", "legacy"]


class CloseCode(IntEnum):
    """WebSocket close codes the gateway uses (PROTOCOL.md section 4)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the gateway is shutting down
    TOO_BIG = 1009
    BAD_FRAMES = 4003
    REPLACED = 4009  # a newer connection of the same device took over
    RATE_LIMIT = 4029


class HandshakeError(ValueError):
    """A refused handshake: ``status`` is the HTTP status to answer (400, 401 or 404)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class FrameError(ValueError):
    """A frame that cannot be used; ``seq`` is its sequence number when it could be read."""

    def __init__(self, reason: str, seq: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.seq = seq

    def reply(self) -> str:
        """The JSON text frame the gateway answers with (PROTOCOL.md section 4)."""
        return json.dumps({"error": self.reason, "seq": self.seq})


@dataclass(frozen=True)
class StreamParams:
    """What a device declared at the handshake."""

    device_id: str
    token: str = field(repr=False)
    rate: int = 360
    bits: int = 12
    lead_off: bool = False
    format: Format = "batch"

    def token_matches(self, expected: str) -> bool:
        """Constant-time comparison, so response timing does not leak the token."""
        return hmac.compare_digest(self.token.encode(), expected.encode())


@dataclass(frozen=True)
class Frame:
    """One accepted frame: consecutive samples, and how many frames were lost before it."""

    seq: int | None
    samples: np.ndarray  # int64 ADC counts
    lead_off: bool = False
    missing: int = 0


def _declared(query: Mapping[str, list[str]], headers: Mapping[str, str], key: str, header: str) -> str | None:
    """A declaration from the headers, else the query (headers win, PROTOCOL.md section 1)."""
    value = headers.get(header)
    if value is None:
        values = query.get(key)
        value = values[-1] if values else None
    return value.strip() if value is not None else None


def _whole(text: str, name: str, lo: int, hi: int) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise HandshakeError(400, f"{name}: expected a whole number {lo}..{hi}, got {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise HandshakeError(400, f"{name}: {value} is outside {lo}..{hi}")
    return value


def parse_handshake(path: str, headers: Mapping[str, str], legacy_rate: int) -> StreamParams:
    """Read the device's declarations from the request path and headers.

    Raises :class:`HandshakeError` with 400 (bad declaration), 401 (no
    credentials) or 404 (not the stream path); checking the token against the configuration is the
    caller's job, because only it knows the devices.
    """
    url = urlsplit(path)
    if url.path != PATH:
        raise HandshakeError(404, f"unknown path {url.path!r}; the stream is at {PATH}")
    query = parse_qs(url.query, keep_blank_values=True)
    device = _declared(query, headers, "device", "X-ECG-Device")
    token = _declared(query, headers, "token", "X-ECG-Token")
    if not device or not token:
        raise HandshakeError(401, "device id and token are required (query device/token or headers X-ECG-Device/X-ECG-Token)")
    if not DEVICE_ID.fullmatch(device):
        raise HandshakeError(400, "device: expected 1..64 characters of A-Z a-z 0-9 _ . -")
    fmt = _declared(query, headers, "format", "X-ECG-Format") or "batch"
    if fmt not in ("batch", "legacy"):
        raise HandshakeError(400, f"format: expected 'batch' or 'legacy', got {fmt!r}")
    rate_text = _declared(query, headers, "rate", "X-ECG-Rate")
    if rate_text is None:
        rate = legacy_rate if fmt == "legacy" else 360
    else:
        rate = _whole(rate_text, "rate", 50, 10_000)
    bits_text = _declared(query, headers, "bits", "X-ECG-Bits")
    bits = 12 if bits_text is None else _whole(bits_text, "bits", 8, 15)  # samples travel as int16
    leadoff_text = _declared(query, headers, "leadoff", "X-ECG-Leadoff") or "0"
    if leadoff_text not in ("0", "1"):
        raise HandshakeError(400, f"leadoff: expected 0 or 1, got {leadoff_text!r}")
    return StreamParams(device, token, rate, bits, leadoff_text == "1", fmt)  # type: ignore[arg-type]


def encode_frame(seq: int, samples: np.ndarray, flags: int = 0) -> bytes:
    """A binary batch frame (the firmware's format), e.g. for the replayer."""
    samples = np.asarray(samples)
    if not 1 <= samples.size <= MAX_COUNT:
        raise ValueError(f"a frame carries 1..{MAX_COUNT} samples, got {samples.size}")
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, flags, 0, seq % SEQ_MOD, samples.size, 0) + samples.astype("<i2").tobytes()


def encode_json_frame(seq: int, samples: np.ndarray, flags: int = 0) -> str:
    """The same batch as a JSON text frame (the debugging form)."""
    values = [int(v) for v in np.asarray(samples)]
    return json.dumps({"v": PROTOCOL_VERSION, "seq": seq % SEQ_MOD, "flags": flags, "n": len(values), "s": values},
                      separators=(",", ":"))


def _refuse_constant(name: str) -> float:
    raise FrameError(f"{name} is not a number")


def _json_int(obj: dict, key: str, seq: int | None) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError(f"field {key!r}: expected an integer, got {json.dumps(value)}", seq)
    return value


class FrameDecoder:
    """Turns one connection's frames into :class:`Frame` values, tracking sequence numbers.

    Sequence numbers are compared in serial-number arithmetic (RFC 1982):
    a step forward of ``k`` (modulo 2^32, ``k < 2^31``) means ``k - 1``
    frames were lost; a repeat or a step back is a bad frame.  The first
    frame of a connection is expected to have ``seq`` 0.
    """

    def __init__(self, params: StreamParams):
        self.params = params
        self.max_value = 2**params.bits - 1
        self._next_seq = 0

    def decode(self, message: bytes | str) -> Frame:
        """Parse one WebSocket message; raises :class:`FrameError` naming what is wrong."""
        if self.params.format == "legacy":
            return self._legacy(message)
        if isinstance(message, str):
            seq, flags, samples = self._json(message)
        else:
            seq, flags, samples = self._binary(message)
        self._check_range(samples, seq)
        missing = self._advance(seq)
        return Frame(seq, samples, bool(flags & (FLAG_LO_PLUS | FLAG_LO_MINUS)), missing)

    def _legacy(self, message: bytes | str) -> Frame:
        if not isinstance(message, str):
            raise FrameError("legacy form: expected a text frame with one integer, got a binary frame")
        match = _LEGACY_SAMPLE.fullmatch(message)
        if not match:
            raise FrameError(f"legacy form: expected one whole ADC count, got {message[:32]!r}")
        samples = np.array([int(match.group(1))], dtype=np.int64)
        self._check_range(samples, None)
        return Frame(None, samples)

    def _binary(self, message: bytes) -> tuple[int, int, np.ndarray]:
        if len(message) < HEADER.size:
            raise FrameError(f"frame of {len(message)} bytes is shorter than the {HEADER.size}-byte header")
        magic, version, flags, reserved, seq, count, reserved2 = HEADER.unpack_from(message)
        if magic != MAGIC:
            raise FrameError(f"bad magic 0x{magic:02X}, expected 0x{MAGIC:02X}")
        if version != PROTOCOL_VERSION:
            raise FrameError(f"unsupported version {version}, expected {PROTOCOL_VERSION}", seq)
        if flags & ~(FLAG_LO_PLUS | FLAG_LO_MINUS) or reserved or reserved2:
            raise FrameError("reserved flag bits and reserved bytes must be 0", seq)
        if not 1 <= count <= MAX_COUNT:
            raise FrameError(f"count {count} is outside 1..{MAX_COUNT}", seq)
        if len(message) != HEADER.size + 2 * count:
            raise FrameError(f"frame is {len(message)} bytes, expected {HEADER.size + 2 * count} for {count} samples",
                             seq)
        samples = np.frombuffer(message, dtype="<i2", offset=HEADER.size).astype(np.int64)
        return seq, flags, samples

    def _json(self, message: str) -> tuple[int, int, np.ndarray]:
        try:
            obj = json.loads(message, parse_constant=_refuse_constant)
        except ValueError as e:
            if isinstance(e, FrameError):
                raise
            raise FrameError(f"text frame is not JSON: {e.args[0] if e.args else e}") from None
        if not isinstance(obj, dict):
            raise FrameError("text frame: expected a JSON object")
        seq_value = obj.get("seq")
        seq = seq_value if isinstance(seq_value, int) and not isinstance(seq_value, bool) else None
        unknown = set(obj) - {"v", "seq", "flags", "n", "s"}
        if unknown:
            raise FrameError(f"unknown fields {sorted(unknown)}", seq)
        if _json_int(obj, "v", seq) != PROTOCOL_VERSION:
            raise FrameError(f"unsupported version {obj['v']}, expected {PROTOCOL_VERSION}", seq)
        seq = _json_int(obj, "seq", seq)
        if not 0 <= seq < SEQ_MOD:
            raise FrameError(f"seq {seq} is outside 0..2^32-1", None)
        flags = _json_int(obj, "flags", seq) if "flags" in obj else 0
        if flags & ~(FLAG_LO_PLUS | FLAG_LO_MINUS) or flags < 0:
            raise FrameError(f"flags {flags}: only bits 0 and 1 may be set", seq)
        n = _json_int(obj, "n", seq)
        values = obj.get("s")
        if not isinstance(values, list):
            raise FrameError("field 's': expected a list of samples", seq)
        if not 1 <= n <= MAX_COUNT or n != len(values):
            raise FrameError(f"n = {n} must equal the number of samples ({len(values)}) and be 1..{MAX_COUNT}", seq)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise FrameError("field 's': every sample must be a whole number", seq)
        return seq, flags, np.array(values, dtype=np.int64)

    def _check_range(self, samples: np.ndarray, seq: int | None) -> None:
        bad = (samples < 0) | (samples > self.max_value)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FrameError(f"sample {i} = {int(samples[i])} is outside the {self.params.bits}-bit ADC range "
                             f"0..{self.max_value}", seq)

    def _advance(self, seq: int) -> int:
        """Accept ``seq`` and return the number of frames lost before it."""
        step = (seq - self._next_seq) % SEQ_MOD
        if step >= SEQ_MOD // 2:
            expected = self._next_seq
            raise FrameError(f"seq {seq} repeats or goes backwards (expected {expected})", seq)
        self._next_seq = (seq + 1) % SEQ_MOD
        return step


class SlidingCounter:
    """Sum of amounts added within the last ``window`` seconds (for the bad-frame and rate limits)."""

    def __init__(self, window: float):
        if not window > 0 or math.isinf(window):
            raise ValueError(f"window must be a positive number of seconds, got {window}")
        self.window = window
        self._events: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, now: float, amount: int = 1) -> int:
        """Record ``amount`` at time ``now``; return the sum over the window ending at ``now``."""
        self._events.append((now, amount))
        self.total += amount
        while self._events and self._events[0][0] <= now - self.window:
            self.total -= self._events.popleft()[1]
        return self.total
