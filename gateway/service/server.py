"""The WebSocket ingest server: devices stream samples in, processor events go out to a sink.

One :class:`DeviceSession` per configured device holds its
:class:`~gateway.processor.StreamProcessor` and outlives connections: a
device that reconnects (Wi-Fi drop, the old TCP connection half-open)
replaces its previous connection (closed with 4009) and continues the same
processor after a ``gap()``, so the beat counts, the alert cool-downs and
the ``signal_lost`` timer carry on.  Only a device that says goodbye (close
1000/1001) ends its session; ``close()`` then finishes its last beats.

Nothing is dropped while the model runs.  The connection handler only
parses and validates frames (cheap) and puts them on the session's bounded
work queue; when the queue is full it stops reading, so frames wait in the
socket buffers instead of being lost.  Processing jobs take the queued
work of every ready session and run the processors in a thread
(``server.processing_threads``, default 1), so a burst of classification
does not hold up the event loop (the watchdog, the other devices' sockets,
MQTT); one job per hand-over to the thread, however many devices are
ready, keeps the hand-over cost flat as devices are added.  A session is
held by one job at a time, so each processor sees its frames in order.
Frames queued together are fed one call per frame, each with its own
arrival time, except that consecutive legacy one-sample frames are merged
(within 0.1 s) so the processor sees useful blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Callable, Iterable, Mapping, Protocol

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .config import DeviceConfig, ServerConfig
from ..events import Alert, Beat, Status
from .protocol import CloseCode, FrameDecoder, FrameError, HandshakeError, SlidingCounter, StreamParams, \
    parse_handshake

log = logging.getLogger(__name__)

#: Frames a session may hold before its connection stops reading (back-pressure, not loss).
QUEUE_FRAMES = 512
#: Consecutive legacy one-sample frames that arrive within this span are fed as one block.
MERGE_SPAN = 0.1

Event = Alert | Beat | Status


class Processor(Protocol):
    """The part of :class:`gateway.processor.StreamProcessor` the server drives."""

    def feed(self, samples: np.ndarray, now: float, lead_off: bool = False) -> list: ...
    def gap(self, missing_frames: int, now: float) -> list: ...
    def tick(self, now: float) -> list: ...
    def close(self, now: float) -> list: ...
    def note_bad_frame(self) -> None: ...


class EventSink(Protocol):
    """Where events go (the MQTT :class:`~gateway.service.mqtt.Publisher`); called on the event loop."""

    def publish_events(self, patient: str, events: Iterable[Event]) -> None: ...
    def device_online(self, patient: str, online: bool) -> None: ...


#: Builds a device's processor from its declaration, its configuration and the start time.
ProcessorFactory = Callable[[StreamParams, DeviceConfig, float], Processor]


@dataclass
class _Op:
    """One unit of work for a processor, stamped with its arrival time."""

    kind: str  # "feed" | "gap" | "tick" | "bad_frame" | "close"
    now: float
    samples: np.ndarray | None = None
    lead_off: bool = False
    missing: int = 0


def _merge_legacy(ops: list[_Op]) -> list[_Op]:
    """Join runs of one-sample feeds with the same lead flag that arrived within :data:`MERGE_SPAN`."""
    out: list[_Op] = []
    first_now = 0.0
    for op in ops:
        prev = out[-1] if out else None
        if (op.kind == "feed" and prev is not None and prev.kind == "feed" and op.samples.size == 1
                and prev.lead_off == op.lead_off and op.now - first_now <= MERGE_SPAN):
            out[-1] = replace(prev, now=op.now, samples=np.concatenate([prev.samples, op.samples]))
        else:
            first_now = op.now
            out.append(op)
    return out


@dataclass(eq=False)  # compared and hashed by identity: a device may get a new session
class DeviceSession:
    """A device's processor and its work queue (across reconnections)."""

    device_id: str
    patient: str
    params: StreamParams
    processor: Processor
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_FRAMES))
    connection: ServerConnection | None = None
    waiting_since: float | None = None  # arrival time of the oldest op in the queue
    processing_since: float | None = None  # arrival time of the oldest op being processed
    busy: bool = False  # a processing job holds its ops
    tick_queued: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # its close op has been processed

    def take(self) -> list[_Op]:
        """Everything queued, for one processing job (frees the queue for the connection)."""
        ops = []
        while not self.queue.empty():
            ops.append(self.queue.get_nowait())
        self.tick_queued = False
        self.processing_since, self.waiting_since = self.waiting_since, None
        return _merge_legacy(ops)

    def lag(self, now: float) -> float:
        """How far processing is behind arrival, seconds (0 when idle)."""
        oldest = [t for t in (self.processing_since, self.waiting_since) if t is not None]
        return now - min(oldest) if oldest else 0.0

    def run(self, ops: list[_Op]) -> list[Event]:
        """Apply ops to the processor in order; after a failure, restart its pipeline with a gap.

        Runs in a processing thread (or on the loop); only one job holds a session at a time.
        """
        events: list[Event] = []
        try:
            for op in ops:
                if op.kind == "feed":
                    events += self.processor.feed(op.samples, op.now, op.lead_off)
                elif op.kind == "gap":
                    events += self.processor.gap(op.missing, op.now)
                elif op.kind == "tick":
                    events += self.processor.tick(op.now)
                elif op.kind == "bad_frame":
                    self.processor.note_bad_frame()
                else:
                    events += self.processor.close(op.now)
        except Exception:
            log.exception("device %s: the processor failed; restarting its pipeline", self.device_id,
                          extra={"device": self.device_id})
            try:
                events += self.processor.gap(0, ops[-1].now)
            except Exception:
                log.exception("device %s: the processor cannot restart", self.device_id,
                              extra={"device": self.device_id})
        return events


def _process(work: list[tuple[DeviceSession, list[_Op]]]) -> list[tuple[DeviceSession, list[Event]]]:
    """One processing job: every ready session's ops, session after session."""
    return [(session, session.run(ops)) for session, ops in work]


class IngestServer:
    """``ws://host:port/v1/stream``: authenticates devices, parses frames, drives their processors."""

    def __init__(self, config: ServerConfig, devices: Mapping[str, DeviceConfig], make_processor: ProcessorFactory,
                 sink: EventSink, executor: Executor | None = None, *, clock: Callable[[], float] = time.time):
        """``executor``: run the processing jobs there (the caller owns and shuts it down) instead of
        in ``config.processing_threads`` threads of the server's own."""
        self.config = config
        self.devices = devices
        self.make_processor = make_processor
        self.sink = sink
        self.clock = clock
        self.sessions: dict[str, DeviceSession] = {}
        #: totals since start: frames, samples, bad_frames, lost_frames, beats, alerts
        self.counts: Counter[str] = Counter()
        self._declared: weakref.WeakKeyDictionary[ServerConnection, StreamParams] = weakref.WeakKeyDictionary()
        self._server: Server | None = None
        self._executor = executor
        self._own_executor = executor is None
        self._ready: dict[DeviceSession, None] = {}  # sessions with queued ops, oldest first
        self._work_available = asyncio.Event()
        self._schedulers: list[asyncio.Task] = []

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> int:
        """Start the processing jobs, bind and start accepting; returns the bound port (useful with port 0)."""
        threads = self.config.processing_threads
        if threads and self._own_executor:
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="processing")
        self._schedulers = [asyncio.create_task(self._schedule(), name=f"processing {i}")
                            for i in range(max(threads, 1))]
        self._server = await serve(self._handle, self.config.host, self.config.port,
                                   process_request=self._process_request, max_size=self.config.max_frame_bytes,
                                   max_queue=64, compression=None)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop accepting, close device sockets with 1001, then finish every processor."""
        if self._server is not None:
            self._server.close(close_connections=True, code=CloseCode.GOING_AWAY, reason="gateway shutting down")
            await self._server.wait_closed()
        await asyncio.gather(*(self._end(s, self.clock()) for s in list(self.sessions.values())))
        for task in self._schedulers:
            task.cancel()
        await asyncio.gather(*self._schedulers, return_exceptions=True)
        if self._executor is not None and self._own_executor:
            self._executor.shutdown()

    def tick(self, now: float) -> None:
        """Ask every processor for its periodic work (stalls, signal lost, status); about once a second."""
        for session in self.sessions.values():
            if not (session.tick_queued or session.queue.full()):  # a full queue ticks with its next job
                session.tick_queued = True
                session.queue.put_nowait(_Op("tick", now))
                session.waiting_since = session.waiting_since or now
                self._mark_ready(session)

    def stats(self, now: float) -> dict[str, float]:
        """Totals for the service's status line and the benchmarks."""
        s = list(self.sessions.values())
        return {"devices": sum(x.connection is not None for x in s), "sessions": len(s),
                **{k: self.counts[k] for k in ("frames", "samples", "bad_frames", "lost_frames", "beats", "alerts")},
                "lag": max((x.lag(now) for x in s), default=0.0)}

    # -- handshake -----------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            params = parse_handshake(request.path, request.headers, self.config.legacy_rate)
        except HandshakeError as e:
            log.warning("refused a connection from %s: %s", connection.remote_address, e.reason)
            return connection.respond(HTTPStatus(e.status), e.reason + "\n")
        device = self.devices.get(params.device_id)
        if device is None or not params.token_matches(device.token):
            log.warning("refused device %r from %s: unknown device or wrong token",
                        params.device_id, connection.remote_address, extra={"device": params.device_id})
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unknown device or wrong token\n")
        self._declared[connection] = params
        return None

    # -- a connection --------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        params = self._declared.pop(ws)
        now = self.clock()
        session = await self._attach(ws, params, now)
        log.info("device %s connected from %s (%s form, %d Hz, %d bits, lead-off %s)", params.device_id,
                 ws.remote_address, params.format, params.rate, params.bits,
                 "reported" if params.lead_off else "not reported", extra={"device": params.device_id})
        self.sink.device_online(session.patient, True)
        try:
            await self._receive(ws, session)
        except ConnectionClosed:
            pass
        finally:
            self.sink.device_online(session.patient, False)
            if session.connection is ws:
                session.connection = None
                said_goodbye = ws.protocol.close_rcvd_then_sent and ws.close_code in (CloseCode.NORMAL,
                                                                                     CloseCode.GOING_AWAY)
                log.info("device %s disconnected (code %s)", params.device_id, ws.close_code,
                         extra={"device": params.device_id})
                if said_goodbye and session.device_id in self.sessions:
                    await self._end(session, self.clock())

    async def _attach(self, ws: ServerConnection, params: StreamParams, now: float) -> DeviceSession:
        """The session this connection feeds: the device's current one, or a new one."""
        session = self.sessions.get(params.device_id)
        if session is not None and session.connection is not None:
            old, session.connection = session.connection, ws
            log.warning("device %s reconnected; closing its previous connection", params.device_id,
                        extra={"device": params.device_id})
            await old.close(CloseCode.REPLACED, "replaced by a newer connection")
        if session is not None and (session.params.rate, session.params.bits, session.params.lead_off) != \
                (params.rate, params.bits, params.lead_off):
            log.info("device %s changed its declaration; starting a new stream", params.device_id,
                     extra={"device": params.device_id})
            await self._end(session, now)
            session = None
        if session is None:
            device = self.devices[params.device_id]
            processor = self.make_processor(params, device, now)
            session = DeviceSession(params.device_id, device.patient, params, processor)
            self.sessions[params.device_id] = session
        else:
            await self._enqueue(session, _Op("gap", now))  # no beat spans the reconnection
        session.connection = ws
        return session

    async def _receive(self, ws: ServerConnection, session: DeviceSession) -> None:
        limits = self.config.limits
        decoder = FrameDecoder(session.params)
        bad = SlidingCounter(limits.bad_frames_window)
        rate = SlidingCounter(limits.rate_window)
        max_samples = limits.rate_factor * session.params.rate * limits.rate_window
        async for message in ws:
            now = self.clock()
            try:
                frame = decoder.decode(message)
            except FrameError as e:
                self.counts["bad_frames"] += 1
                await self._enqueue(session, _Op("bad_frame", now))  # counted in the device's status
                await ws.send(e.reply())
                if bad.add(now) > limits.bad_frames:
                    log.warning("device %s: too many bad frames (last: %s); closing", session.device_id, e.reason,
                                extra={"device": session.device_id})
                    await ws.close(CloseCode.BAD_FRAMES, "too many bad frames")
                    return
                continue
            if limits.rate_factor and rate.add(now, frame.samples.size) > max_samples:
                log.warning("device %s sends faster than %.3g x its declared %d Hz; closing",
                            session.device_id, limits.rate_factor, session.params.rate,
                            extra={"device": session.device_id})
                await ws.close(CloseCode.RATE_LIMIT, "rate limit")
                return
            self.counts["frames"] += 1
            self.counts["samples"] += frame.samples.size
            if frame.missing:
                self.counts["lost_frames"] += frame.missing
                await self._enqueue(session, _Op("gap", now, missing=frame.missing))
            await self._enqueue(session, _Op("feed", now, frame.samples, frame.lead_off))

    # -- processing ----------------------------------------------------------------------------

    async def _enqueue(self, session: DeviceSession, op: _Op) -> None:
        """Queue work for a session; waits (and so stops reading its socket) while its queue is full."""
        await session.queue.put(op)
        if session.waiting_since is None:
            session.waiting_since = op.now
        self._mark_ready(session)

    def _mark_ready(self, session: DeviceSession) -> None:
        self._ready[session] = None
        if not session.busy:
            self._work_available.set()

    async def _schedule(self) -> None:
        """A processing loop: take every ready session that no other job holds, run them, publish.

        Batching the sessions into one job per round trip to the thread keeps the
        cost of the hand-over (~70 us) from growing with the number of devices.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._work_available.wait()
            batch = [s for s in self._ready if not s.busy]
            for session in batch:
                del self._ready[session]
                session.busy = True
            if not any(not s.busy for s in self._ready):
                self._work_available.clear()
            if not batch:
                continue
            work = [(session, session.take()) for session in batch]
            try:
                if self._executor is None:
                    results = _process(work)
                else:
                    results = await loop.run_in_executor(self._executor, _process, work)
            finally:
                for session in batch:
                    session.busy = False
                    session.processing_since = None
                    if session in self._ready:
                        self._work_available.set()
            for (session, ops), (_, events) in zip(work, results):
                self._dispatch(session, events)
                if ops and ops[-1].kind == "close":
                    session.closed.set()

    def _dispatch(self, session: DeviceSession, events: list[Event]) -> None:
        if not events:
            return
        self.counts["beats"] += sum(isinstance(e, Beat) for e in events)
        self.counts["alerts"] += sum(isinstance(e, Alert) for e in events)
        self.sink.publish_events(session.patient, events)

    async def _end(self, session: DeviceSession, now: float) -> None:
        """Finish a session's processor (its last beats and alerts) and forget the session."""
        if self.sessions.get(session.device_id) is session:
            del self.sessions[session.device_id]
        await self._enqueue(session, _Op("close", now))
        await session.closed.wait()
