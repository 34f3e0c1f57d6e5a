"""The per-device stream processor: ADC counts in, beats, alerts and status out (sans I/O).

One :class:`StreamProcessor` per device.  It owns no socket, thread or
clock: the adapter (WebSocket server, ``ecg-analyze``, tests) passes the
samples and the arrival time ``now``.  The pipeline::

    counts -> mV (DeviceStream: front-end gain, ADC reference, bits)
      -> lead checks on raw blocks (gateway.signal.quality: device flag, rail, flat)
      -> Conditioner (device rate -> 360 Hz, baseline + 40 Hz low-pass)
      -> RPeakDetector -> ContextTracker   -> beat windows from a bounded buffer
      -> VFDetector (4 s windows, 1 s)     -> render_beats + context -> classify (one batch per feed)
      -> AlertPolicy (in decision order)   -> Alert (+ ECG strip PNG)

**Delay.**  A beat is classified once the 256 samples after its R peak are
filtered, so its delay after the R peak arrived is at most ``block_s``
(lead check, 0.25 s) + the conditioner delay (204 samples, 0.57 s, plus the
resampler's at other device rates) + 256 samples (0.71 s); the detector's
look-ahead (162 samples) lies inside the 256.  :attr:`StreamProcessor.delay_s`
gives the figure for the device's rate (1.52 s at 360 Hz).

**Memory** is bounded: the filtered signal is kept for ``strip.seconds``
(or one beat window, if longer), the rhythm detector keeps one window, the
policy keeps a minute of beat records, and raw samples wait for at most one
lead-check block.  Nothing is dropped: every sample fed is judged, and
every detected beat is reported (beats too close to a segment edge for a
full window are reported with label ``"?"``, confidence 0).

**Context features.**  Every detected peak, in detection order and as soon
as it is detected (also those that end up ``"?"``), goes with its QRS
through the segment's :class:`~gateway.signal.context.ContextTracker` (RR
intervals and QRS shape against the patient's recent beats, from what
precedes the beat only); its features go with the peak to the
classifier.  A segment thus gets exactly the features training computes
with :func:`gateway.signal.context.context_features` over all detections of a
record.

**Gaps.**  A sequence gap (``gap()``), a lead-off stretch or a signal loss
ends the segment: the chain is flushed and reset, so no beat window, RR
interval (of the alert policy or of the context features) or rhythm window
spans the discontinuity.  After a gap the sample
clock is re-anchored on the arrival time of the next frame.

**Clock correction.**  The timeline measures the device's true sample rate
from the arrival times of its frames (:class:`gateway.timeline.RateEstimator`);
once it is measurably off the declared rate, the conditioner resamples from
the measured rate (retuned at the sample where the timeline changes it), so
RR intervals and heart rates are in the patient's time.  The status reports
``rate_estimate_hz`` and ``rate_correction`` beside ``rate_error``.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from .alerts.config import AlertConfig
from .alerts.ledger import Finding
from .alerts.policy import AlertPolicy
from .alerts.strip import StripConfig, render_strip
from .alerts.types import POOR_SIGNAL
from .device import DeviceStream
from .errors import SignalError
from .events import Alert, Beat, Status
from .signal.buffer import SignalBuffer
from .signal.chain import Conditioner
from .signal.context import ContextTracker
from .signal.quality import LeadChecker, LeadConfig
from .signal.raster import render_beats
from .signal.rhythm import RhythmConfig, VFDetector
from .signal.rpeaks import RPeakDetector
from .signal.spec import MODEL_FS, WINDOW_AFTER, WINDOW_BEFORE
from .timeline import Timeline

#: Namespace of the deterministic alert ids (uuid5 of device, type, state and start time).
ALERT_NAMESPACE = uuid.UUID("6f1c2a4e-93d1-4b6e-a1f0-3c0e5d7b8a21")


@dataclass(frozen=True)
class _Pending:
    """A detected peak not yet reported, with its context features."""

    peak: int  # segment sample index
    features: np.ndarray


@dataclass(frozen=True)
class ProcessorConfig:
    """Processor settings: ``[processor]`` (with sub-tables ``lead``, ``rhythm``, ``strip``) and ``[alerts]``."""

    lead: LeadConfig = field(default_factory=LeadConfig)
    rhythm: RhythmConfig = field(default_factory=RhythmConfig)
    strip: StripConfig = field(default_factory=StripConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    stall_s: float = 2.0  # no frame for this long: a stall (counted with the gaps)
    status_every_s: float = 10.0  # tick() returns a Status this often
    strips: bool = True  # attach ECG strips to alerts

    def __post_init__(self) -> None:
        for name in ("stall_s", "status_every_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        if self.stall_s >= self.alerts.signal_lost_s:
            raise ValueError(f"stall_s ({self.stall_s}) must be shorter than alerts.signal_lost_s "
                             f"({self.alerts.signal_lost_s})")


Event = Beat | Alert | Status


class StreamProcessor:
    """Samples of one device in, :class:`Beat` / :class:`Alert` / :class:`Status` events out."""

    def __init__(self, stream: DeviceStream, classifier, config: ProcessorConfig, start_time: float,
                 sample_sink=None):
        if not isinstance(stream, DeviceStream):
            raise TypeError(f"stream: expected a DeviceStream, got {type(stream).__name__}")
        self.stream = stream
        self.classifier = classifier
        self.config = config
        self.start_time = float(start_time)
        #: optional ``sink(abs_start, y)``: every conditioned 360 Hz sample of every segment, in order, as filtered
        #: (``abs_start`` is the absolute sample of ``y[0]``; a jump in it is a gap).  The recorder uses it.
        self.sample_sink = sample_sink
        self._conditioner = Conditioner(stream.fs)
        self._detector = RPeakDetector(MODEL_FS)
        if self._detector.lookahead > WINDOW_AFTER:
            raise ValueError(f"the R-peak detector looks {self._detector.lookahead} samples ahead, more than "
                             f"the {WINDOW_AFTER} a beat window waits for; the alert timing would break")
        self._vf = VFDetector(config.rhythm, MODEL_FS)
        self._context = ContextTracker()
        self._lead = LeadChecker(config.lead, stream.fs, stream.adc_bits, stream.mv_per_count,
                                 flag_authoritative=stream.reports_lead_off)
        self.policy = AlertPolicy(config.alerts, MODEL_FS)
        self._keep = max(int(round(config.strip.seconds * MODEL_FS)), WINDOW_BEFORE + WINDOW_AFTER)
        self._clock = Timeline(stream.fs, self.start_time)
        # raw samples waiting for a whole lead-check block
        self._raw = np.empty(0, dtype=np.int64)
        self._raw_flags = np.empty(0, dtype=bool)  # the device's lead-off flag, per sample
        # the current segment of usable signal (None: none)
        self._seg_abs: int | None = None
        self._seg_len = 0
        self._y = SignalBuffer()  # recent filtered signal of the segment
        self._peaks: list[_Pending] = []  # detected, not yet reported
        self._prev_peak: int | None = None
        self._recent: deque[tuple[int, str]] = deque()  # (absolute peak, label) for strips
        # counters and clocks for status
        self._lead_state = "unknown"
        self._last_now = self.start_time  # a device that never sends is lost too
        self._stalled = False
        self._lost = False
        self._next_status: float | None = None
        self._closed = False
        self.beats = 0
        self.beat_counts: Counter[str] = Counter()
        self.alerts = 0
        self.gaps = 0
        self.bad_frames = 0

    @property
    def delay_s(self) -> float:
        """Seconds from a sample's arrival to the classification of a beat peaking at it (at most)."""
        return self.config.lead.block_s + self._conditioner.delay / MODEL_FS + WINDOW_AFTER / MODEL_FS

    # ----------------------------------------------------------- interface
    def feed(self, samples: np.ndarray, now: float, lead_off: bool = False) -> list[Event]:
        """Consecutive ADC counts as received at ``now`` (``lead_off``: the frame's lead-off flag)."""
        self._check_open()
        x = self.stream.check_counts(samples)
        out: list[Event] = []
        if self._lost:
            self._lost = False
            out += self._alerts(self.policy.signal_back(self._clock.now()), now)
        if self._clock.arrive(x.size, now):  # the device's clock is corrected from the next sample on
            self._conditioner.retune(self._clock.rate)
        self._last_now = float(now)
        self._stalled = False
        if x.size == 0:
            return out
        self._raw = np.concatenate([self._raw, x])
        self._raw_flags = np.concatenate([self._raw_flags, np.full(x.size, bool(lead_off))])
        whole = self._raw.size // self._lead.block * self._lead.block
        if whole:
            raw, flags = self._raw[:whole], self._raw_flags[:whole]
            self._raw, self._raw_flags = self._raw[whole:], self._raw_flags[whole:]
            out += self._judge_blocks(raw, flags, now)
        if self._seg_abs is None:  # in a segment the chain's own frontier drives the time-outs
            out += self._alerts(self.policy.advance(self._clock.now()), now)
        return out

    def gap(self, missing_frames: int, now: float) -> list[Event]:
        """Frames were lost (or the device reconnected): end the segment, restart cleanly, report it."""
        self._check_open()
        if isinstance(missing_frames, bool) or not isinstance(missing_frames, int) or missing_frames < 0:
            raise SignalError(f"missing_frames: expected a whole number >= 0, got {missing_frames!r}")
        out = self._drain_raw(now)
        out += self._end_segment(now, f"{missing_frames} frames lost")
        self.gaps += 1
        self._clock.gap()
        self._lead.reset()
        return out + [self.status(now, gap_frames=missing_frames)]

    def tick(self, now: float) -> list[Event]:
        """About once a second: stalls, signal loss, and the periodic status."""
        self._check_open()
        out: list[Event] = []
        silent = now - self._last_now
        if silent >= self.config.stall_s and not self._stalled:
            self._stalled = True
            self.gaps += 1
        if silent >= self.config.alerts.signal_lost_s and not self._lost:
            self._lost = True
            out += self._drain_raw(now)
            out += self._end_segment(now, "no data from the device")
            self._clock.gap()
            self._lead.reset()
            out += self._alerts(self.policy.signal_lost(self._clock.now(), silent), now)
        if self._next_status is None:
            self._next_status = now + self.config.status_every_s
        elif now >= self._next_status:
            self._next_status = now + self.config.status_every_s
            out.append(self.status(now))
        return out

    def close(self, now: float) -> list[Event]:
        """The device went away: finish every beat that can be finished, end open episodes, final status."""
        if self._closed:
            return []
        out = self._drain_raw(now)
        out += self._end_segment(now, "the device disconnected")
        self._closed = True
        return out + [self.status(now)]

    def status(self, now: float, **extra) -> Status:
        """A summary of this device now."""
        active = self.policy.active()
        if self._lead_state != "on" or self._lost:
            quality = "none"
        else:
            quality = "poor" if POOR_SIGNAL in active else "good"
        last = self._clock.time_of(self._clock.now()) if self._clock.judged else None
        rate = None if quality == "none" else self.policy.heart_rate(self._clock.now())
        return Status(
            device_id=self.stream.device_id, patient_id=self.stream.patient_id, time=float(now),
            heart_rate=rate, signal_quality=quality, lead=self._lead_state,
            beats=self.beats, beat_counts=dict(self.beat_counts), alerts=self.alerts, gaps=self.gaps,
            bad_frames=self.bad_frames, model_version=self.classifier.version,
            extra={"active_alerts": list(active), "delay_s": round(self.delay_s, 3),
                   "clean_share": self._clean_share(), "held_alerts": self.policy.ledger.held_by_bound,
                   "af_burden": round(self.policy.af_burden(), 4),
                   "episodes": {kind: {"start": self._clock.time_of(e["start"]), "bouts": e["bouts"],
                                       "ending": e["ending"]} for kind, e in self.policy.ledger.episodes().items()},
                   "lag_s": None if last is None else round(float(now) - last, 3),
                   "rate_error": self._clock.rate_error(now, self._raw.size), **self._clock_status(), **extra})

    def _clock_status(self) -> dict:
        """The device's measured rate (Hz, None until measured) and the correction applied (0.0: none)."""
        estimate = self._clock.estimator.estimate
        return {"rate_estimate_hz": None if estimate is None else round(estimate, 3),
                "rate_correction": round(self._clock.correction, 5)}

    def note_bad_frame(self) -> None:
        """The adapter dropped a malformed frame of this device (counted in the status)."""
        self.bad_frames += 1

    # ------------------------------------------------------------ helpers
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"device {self.stream.device_id}: the processor was closed")

    # ------------------------------------------------------------ segments
    def _judge_blocks(self, raw: np.ndarray, flags: np.ndarray, now: float) -> list[Event]:
        """Judge whole lead-check blocks; feed the runs of usable blocks through the chain."""
        out: list[Event] = []
        block = self._lead.block
        run: list[np.ndarray] = []
        for i in range(0, raw.size, block):
            chunk = raw[i:i + block]
            verdict = self._lead.judge(chunk, bool(flags[i:i + block].any()))
            at = self._clock.now()
            if verdict.on:
                if self._seg_abs is None:
                    out += self._start_segment(at, now)
                run.append(chunk)
            else:
                if run:
                    out += self._run_chain(np.concatenate(run), now)
                    run = []
                if self._seg_abs is not None or self._lead_state != "off":
                    out += self._end_segment(now, "lead off")
                    out += self._alerts(self.policy.lead(at, False, verdict.reason), now)
                    self._lead_state = "off"
            self._clock.judged += chunk.size
        if run:
            out += self._run_chain(np.concatenate(run), now)
        return out

    def _drain_raw(self, now: float) -> list[Event]:
        """Judge and process the partial block left over (before a gap or the end)."""
        raw, flags = self._raw, self._raw_flags
        self._raw, self._raw_flags = np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
        return self._judge_blocks(raw, flags, now) if raw.size else []

    def _start_segment(self, at: int, now: float) -> list[Event]:
        out = []
        if self._lead_state != "on":
            out += self._alerts(self.policy.lead(at, True, "ok"), now)
            self._lead_state = "on"
        self._seg_abs = at
        self._seg_len = 0
        self._y.restart(at)
        self._peaks = []
        self._prev_peak = None
        self._context.reset()
        self._recent.clear()
        return out + self._alerts(self.policy.segment_start(at), now)

    def _end_segment(self, now: float, why: str) -> list[Event]:
        """Flush the chain: finish the beats that can be, report edge beats, reset everything."""
        if self._seg_abs is None:
            return []
        out = self._ingest(self._conditioner.flush(), now, final=True)
        end = self._seg_abs + self._seg_len
        out += self._alerts(self.policy.segment_end(end, why), now)
        self._detector.reset()
        self._vf.reset()
        self._seg_abs = None
        return out

    def _run_chain(self, raw: np.ndarray, now: float) -> list[Event]:
        return self._ingest(self._conditioner.process(self.stream.counts_to_mv(raw)), now, final=False)

    # ------------------------------------------------------------ the chain
    def _ingest(self, y: np.ndarray, now: float, final: bool) -> list[Event]:
        """Filtered samples of the current segment -> beats, rhythm windows, policy decisions."""
        seg = self._seg_abs
        assert seg is not None
        self._y.append(y)
        if self.sample_sink is not None and y.size:
            self.sample_sink(seg + self._seg_len, y)
        self._seg_len += y.size
        n = self._seg_len
        self._detected(self._detector.process(y), n)
        if final:
            self._detected(self._detector.flush(), n)
        windows = self._vf.process(y)
        ready = [item for item in self._peaks if item.peak + WINDOW_AFTER <= n or final]
        self._peaks = self._peaks[len(ready):]  # peaks ascend, so the ready ones come first
        labels, conf = self._classify(ready, n)

        # every input of the policy, in the order of the sample at which it was known
        items: list[tuple[int, int, object]] = []
        for item, label, c in zip(ready, labels, conf):
            p = item.peak
            items.append((seg + min(p + WINDOW_AFTER, n), 0, (p, label, c)))
        for w in windows:
            items.append((seg + w.end, 1, w))
        items.sort(key=lambda item: (item[0], item[1]))
        out: list[Event] = []
        for at, kind, payload in items:
            if kind == 0:
                p, label, c = payload
                rr = None if self._prev_peak is None else p - self._prev_peak
                out.append(self._beat(p, label, c))
                self._recent.append((seg + p, label))
                out += self._alerts(self.policy.beat(at, seg + p, None if label == "?" else label, rr), now)
            else:
                out += self._alerts(self.policy.rhythm(at, payload, self._vf.window), now)
        out += self._alerts(self.policy.advance(seg + n), now)
        self._trim()
        return out

    def _detected(self, peaks: np.ndarray, n: int) -> None:
        """New peaks of the segment, in order, each pushed with its QRS to the context tracker.

        ``_y`` ends at segment sample ``n`` and reaches back further than a
        new peak's QRS (it keeps at least a beat window), so cutting the QRS
        from it is cutting it from the whole segment, as training does.
        """
        for p in (int(v) for v in peaks):
            self._peaks.append(_Pending(p, self._context.push(p, self._y.qrs(self._seg_abs + p))))

    def _classify(self, peaks: list[_Pending], n: int) -> tuple[list[str], list[float]]:
        """Labels of the beats whose full window is in the segment ("?" for the others), one batch."""
        labels = ["?"] * len(peaks)
        conf = [0.0] * len(peaks)
        full = [i for i, item in enumerate(peaks) if WINDOW_BEFORE <= item.peak <= n - WINDOW_AFTER]
        if full:
            starts = np.array([self._seg_abs + peaks[i].peak - WINDOW_BEFORE for i in full])
            windows = self._y.windows(starts, WINDOW_BEFORE + WINDOW_AFTER)
            context = np.stack([peaks[i].features for i in full])
            idx, probs = self.classifier.classify(render_beats(windows), context)
            for j, i in enumerate(full):
                labels[i] = self.classifier.labels[int(idx[j])]
                conf[i] = float(probs[j, int(idx[j])])
        return labels, conf

    def _beat(self, p: int, label: str, confidence: float) -> Beat:
        rr = None if self._prev_peak is None else (p - self._prev_peak) / MODEL_FS
        self._prev_peak = p
        self.beats += 1
        self.beat_counts[label] += 1
        abs_p = self._seg_abs + p
        return Beat(self.stream.device_id, abs_p, self._clock.time_of(abs_p), label, confidence, rr)

    def _trim(self) -> None:
        """Keep only what pending beats and strips can still need."""
        need = self._keep
        if self._peaks:
            need = max(need, self._y.end - (self._seg_abs + self._peaks[0].peak - WINDOW_BEFORE))
        self._y.keep(need)
        horizon = self._y.end - self._keep
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()

    # ------------------------------------------------------------ alerts
    def _alerts(self, findings: list[Finding], now: float) -> list[Event]:
        out: list[Event] = []
        for f in findings:
            start = self._clock.time_of(f.start)
            stamp = datetime.fromtimestamp(start, timezone.utc).isoformat(timespec="milliseconds")
            alert_id = uuid.uuid5(ALERT_NAMESPACE, f"{self.stream.device_id}|{f.type}|{f.state}|{stamp}")
            out.append(Alert(
                id=str(alert_id), device_id=self.stream.device_id, patient_id=self.stream.patient_id,
                type=f.type, severity=f.severity, start=start, time=float(now), heart_rate=f.heart_rate,
                beat_counts=f.beat_counts, model_version=self.classifier.version, message=f.message,
                state=f.state, signal_quality=self._clean_share(),
                end=None if f.end is None else self._clock.time_of(f.end),
                strip_png=self._strip(f) if self.config.strips else None))
            self.alerts += 1
        return out

    def _clean_share(self) -> float | None:
        share = self.policy.clean_share()
        return None if share is None else round(share, 2)

    def _strip(self, f: Finding) -> bytes | None:
        """The ECG strip ending where the finding was decided (or where the signal ended)."""
        if self._y.end == 0 or len(self._y) < 2:
            return None
        end = min(f.at, self._y.end)
        span = int(round(self.config.strip.seconds * MODEL_FS))
        trace = self._y.trace(end, span)
        beats = [(p - (end - span), label) for p, label in self._recent if end - span <= p < end]
        hr = f.heart_rate
        caption = f"{f.type.replace('_', ' ')}  HR {hr:.0f}/min" if hr else f.type.replace("_", " ")
        return render_strip(trace, beats, caption, self.config.strip, MODEL_FS)
