"""What the stream processor emits: plain data, no I/O.

Adapters turn these into MQTT messages, annotation files or log lines;
``to_dict`` gives the JSON-ready form every adapter shares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Beat:
    """One classified heartbeat."""

    device_id: str
    sample: int  # R-peak index at 360 Hz since the device's stream started
    time: float  # R-peak time, Unix seconds
    label: str  # model label, e.g. "N" or "V"
    confidence: float  # model probability of ``label``
    rr: float | None  # seconds since the previous beat of the same segment

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Alert:
    """A rhythm event for caregivers; ``id`` is unique so subscribers can de-duplicate."""

    id: str
    device_id: str
    patient_id: str
    type: str  # e.g. "ventricular_run", see the alert table in README.md
    severity: str  # "critical" | "high" | "medium" | "low" | "info"
    start: float  # when the event began, Unix seconds
    time: float  # when it was raised, Unix seconds
    heart_rate: float | None  # beats per minute over the last seconds
    beat_counts: dict[str, int]  # labels of the beats in the alert's window
    model_version: str
    message: str  # one readable sentence
    state: str = "raised"  # "raised" or "cleared"
    signal_quality: float | None = None  # share of the last 30 s of rhythm windows judged clean
    end: float | None = None  # a cleared alert: when the episode ended, Unix seconds (its clear may come later)
    strip_png: bytes | None = field(default=None, repr=False)  # ECG strip with beat labels

    def to_dict(self, with_strip: bool = True) -> dict:
        """JSON-ready dict; the strip, if any, base64-encoded under ``strip_png``."""
        import base64

        d = asdict(self)
        d["strip_png"] = base64.b64encode(self.strip_png).decode() if (with_strip and self.strip_png) else None
        return d


@dataclass(frozen=True)
class Status:
    """A periodic summary of one device, published retained."""

    device_id: str
    patient_id: str
    time: float
    heart_rate: float | None
    signal_quality: str  # "good" | "poor" | "none"
    lead: str  # "on" | "off" | "unknown"
    beats: int
    beat_counts: dict[str, int]
    alerts: int
    gaps: int  # sequence gaps and stalls seen
    bad_frames: int
    model_version: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)
