"""The gateway's configuration: one TOML file into frozen, validated dataclasses.

Every key is checked at start-up (by gateway.service.typed_config) (unknown keys, wrong types, values out of
range) and a mistake stops the gateway with a :class:`ConfigError` whose
message names the key path, e.g. ``mqtt.port: expected an integer
1..65535, got "abc"`` -- a gateway that starts with a typo in its alert
thresholds would fail silently, at the worst moment.  Secrets (device
tokens, the broker password) may be given inline or as ``*_file`` paths;
they are kept out of every ``repr`` and error message.

``deploy/gateway.example.toml`` documents every key.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..alerts.config import AlertConfig
from ..processor import ProcessorConfig
from .protocol import DEVICE_ID
from .typed_config import (PATIENT_ID, TOPIC_PREFIX, ConfigError, TlsConfig, _Loader, _range,  # noqa: F401
                           load_dataclass, read_toml)


@dataclass(frozen=True)
class LimitsConfig:
    """Per-connection limits of PROTOCOL.md section 4."""

    bad_frames: int = field(default=50, metadata=_range(1, 100_000))  # more within the window: close 4003
    bad_frames_window: float = field(default=10.0, metadata=_range(0.1, 3600))
    rate_factor: float = field(default=1.5, metadata=_range(0, 1000))  # x declared rate; 0 disables (replay at speed)
    rate_window: float = field(default=10.0, metadata=_range(0.1, 3600))


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = field(default=9000, metadata=_range(0, 65535))  # 0: any free port (tests)
    max_frame_bytes: int = field(default=8192, metadata=_range(64, 1 << 20))
    legacy_rate: int = field(default=360, metadata=_range(50, 10_000))
    processing_threads: int = field(default=1, metadata=_range(0, 64))  # 0: process in the event loop
    limits: LimitsConfig = field(default_factory=LimitsConfig)


@dataclass(frozen=True)
class DeviceConfig:
    """One ECG kit: its secret token and the patient it is worn by."""

    patient: str = field(metadata={"pattern": PATIENT_ID})
    token: str = field(repr=False, metadata={"secret": True, "file_key": "token_file"})
    # the analog front end, for counts -> mV (gateway.processor.DeviceStream)
    gain: float = field(default=1100.0, metadata=_range(1, 100_000))  # V/V: AD8232 kit 1100; ecg-replay 300
    vref: float = field(default=3.3, metadata=_range(0.5, 10))  # ADC full scale, volts
    zero: float | None = field(default=None, metadata=_range(0, 65535))  # count meaning 0 mV; None: mid-scale


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = field(default=1883, metadata=_range(1, 65535))
    prefix: str = field(default="ecg", metadata={"pattern": TOPIC_PREFIX})
    client_id: str = field(default="", metadata={"pattern": re.compile(r"[A-Za-z0-9_-]{0,64}")})  # "" -> ecg-gateway-<host>
    username: str | None = None
    password: str | None = field(default=None, repr=False, metadata={"secret": True, "file_key": "password_file"})
    tls: TlsConfig | None = None
    keepalive: int = field(default=30, metadata=_range(5, 3600))
    drain_timeout: float = field(default=10.0, metadata=_range(0, 600))  # at shutdown, wait this long for PUBACKs
    beat_stream: bool = False
    trace: bool = False  # publish the conditioned signal, downsampled, on <prefix>/<patient>/trace (QoS 0)
    trace_hz: int = field(default=120, metadata=_range(30, 360))  # the trace's rate: 360 Hz / a whole factor
    ha_discovery: bool = True
    discovery_prefix: str = field(default="homeassistant", metadata={"pattern": TOPIC_PREFIX})


@dataclass(frozen=True)
class ModelConfig:
    path: str | None = field(default=None, metadata={"path": True})  # None: the shipped model of ``scheme``
    scheme: str | None = None  # None: seed8 when shipped, else whatever the file's metadata says
    # patient-adaptive heads (ecg-adapt): <adaptation_dir>/<patient>.npz, used when that patient's pipeline starts
    adaptation_dir: str | None = field(default=None, metadata={"path": True})


@dataclass(frozen=True)
class StateConfig:
    dir: str = field(default="/var/lib/ecg-gateway", metadata={"path": True})


@dataclass(frozen=True)
class RecordingConfig:
    """Full-disclosure recording (gateway/service/recorder.py, docs/recording.md)."""

    enabled: bool = True
    dir: str = field(default="", metadata={"path": True})  # "": <state.dir>/recordings
    retention_days: float = field(default=30.0, metadata=_range(0.01, 36500))
    max_disk_share: float = field(default=0.5, metadata=_range(0.01, 0.98))  # of the filesystem, all recordings
    record_minutes: float = field(default=60.0, metadata=_range(1, 1440))
    flush_s: float = field(default=2.0, metadata=_range(0.5, 60))  # a crash loses at most about this much


@dataclass(frozen=True)
class LoggingConfig:
    level: str = field(default="INFO", metadata={"choices": ("DEBUG", "INFO", "WARNING", "ERROR")})
    format: str = field(default="text", metadata={"choices": ("text", "json")})


@dataclass(frozen=True)
class GatewayConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    devices: dict[str, DeviceConfig] = field(default_factory=dict, metadata={"key_pattern": DEVICE_ID})
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    state: StateConfig = field(default_factory=StateConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    processor: ProcessorConfig = field(default_factory=ProcessorConfig)  # its .alerts is the [alerts] section
    alerts: AlertConfig = field(default_factory=AlertConfig)

    def patients(self) -> list[str]:
        """Every configured patient, once, in configuration order."""
        return list(dict.fromkeys(d.patient for d in self.devices.values()))


def parse_config(table: dict, base_dir: str | Path = ".") -> GatewayConfig:
    """Validate an already-parsed TOML document; relative paths are taken from ``base_dir``."""
    if isinstance(table.get("processor"), dict) and "alerts" in table["processor"]:
        raise ConfigError("processor.alerts: the alert policy is the top-level [alerts] section")
    config = _Loader(Path(base_dir)).dataclass(GatewayConfig, table, "")
    try:  # the processor checks its settings against the alert policy's
        processor = dataclasses.replace(config.processor, alerts=config.alerts)
    except ValueError as e:
        raise ConfigError(f"processor.{e}") from None
    return dataclasses.replace(config, processor=processor)


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate the gateway's TOML file (``ecg-gateway --config FILE``)."""
    path = Path(path)
    return parse_config(read_toml(path), path.parent.resolve())


def default_client_id() -> str:
    """``ecg-gateway-<hostname>``: stable across restarts, distinct between gateways."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", os.uname().nodename)[:40] or "host"
    return f"ecg-gateway-{host}"
