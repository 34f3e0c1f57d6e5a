"""The gateway's configuration: one TOML file into frozen, validated dataclasses.

Every key is checked at start-up (unknown keys, wrong types, values out of
range) and a mistake stops the gateway with a :class:`ConfigError` whose
message names the key path, e.g. ``mqtt.port: expected an integer
1..65535, got "abc"`` -- a gateway that starts with a typo in its alert
thresholds would fail silently, at the worst moment.  Secrets (device
tokens, the broker password) may be given inline or as ``*_file`` paths;
they are kept out of every ``repr`` and error message.

``deploy/gateway.example.toml`` documents every key.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..alerts.config import AlertConfig
from ..processor import ProcessorConfig
from .protocol import DEVICE_ID

#: Patient ids become MQTT topic levels and Home Assistant ids: no "/", "+", "#",
#: and no leading "_" (the gateway's own topics live under ``<prefix>/_gateway``).
PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TOPIC_PREFIX = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class ConfigError(ValueError):
    """A configuration mistake; the message starts with the key path."""


def _range(lo: float | None = None, hi: float | None = None, **more: Any) -> dict:
    return {"range": (lo, hi), **more}


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
class TlsConfig:
    ca: str | None = field(default=None, metadata={"path": True})
    cert: str | None = field(default=None, metadata={"path": True})
    key: str | None = field(default=None, metadata={"path": True})


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


def _show(value: Any) -> str:
    """A value as the TOML author wrote it, for error messages."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


class _Loader:
    """Builds dataclasses from TOML tables, naming the key path in every error."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir

    def dataclass(self, cls: type, table: Any, path: str) -> Any:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: expected a table, got {_show(table)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        file_keys = {f.metadata["file_key"]: f.name for f in fields.values() if "file_key" in f.metadata}
        unknown = sorted(set(table) - set(fields) - set(file_keys))
        if unknown:
            raise ConfigError(f"{self._join(path, unknown[0])}: unknown key (known keys: "
                              f"{', '.join(sorted([*fields, *file_keys]))})")
        values: dict[str, Any] = {}
        for name, f in fields.items():
            key = self._join(path, name)
            file_key = f.metadata.get("file_key")
            if file_key and file_key in table:
                if name in table:
                    raise ConfigError(f"{key}: give either {name} or {file_key}, not both")
                values[name] = self._secret_file(table[file_key], self._join(path, file_key))
            elif name in table:
                values[name] = self.value(hints[name], table[name], key, f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                alternative = f" (or {file_key})" if file_key else ""
                raise ConfigError(f"{key}: required key is missing{alternative}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:  # the dataclass's own checks; they start with the field name
            message = str(e)
            named = re.match(r"[A-Za-z_][A-Za-z0-9_]*", message)
            joiner = "." if named and named.group(0) in fields else ": "
            raise ConfigError(f"{path}{joiner}{message}" if path else message) from None

    def value(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(options) != 1:
                raise TypeError(f"{key}: unsupported annotation {tp}")
            return self.value(options[0], value, key, meta)
        if dataclasses.is_dataclass(tp):
            return self.dataclass(tp, value, key)
        if origin in (dict, collections.abc.Mapping):
            _, item = typing.get_args(tp)
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected a table, got {_show(value)}")
            pattern = meta.get("key_pattern")
            for name in value:
                if pattern and not pattern.fullmatch(name):
                    raise ConfigError(f"{key}.{name}: the name does not match {pattern.pattern}")
            return {name: self.value(item, v, f"{key}.{name}", {}) for name, v in value.items()}
        if origin is tuple:
            args = typing.get_args(tp)
            variable = len(args) == 2 and args[1] is Ellipsis
            if not isinstance(value, list) or (not variable and len(value) != len(args)):
                what = f"a list of {_type_name(args[0])}" if variable else f"a list of {len(args)} values"
                raise ConfigError(f"{key}: expected {what}, got {_show(value)}")
            items = [args[0]] * len(value) if variable else list(args)
            return tuple(self.value(t, v, f"{key}[{i}]", meta) for i, (t, v) in enumerate(zip(items, value)))
        return self.scalar(tp, value, key, meta)

    def scalar(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        lo, hi = meta.get("range", (None, None))
        span = f" {lo:g}..{hi:g}" if lo is not None and hi is not None else ""
        shown = "(hidden)" if meta.get("secret") else _show(value)
        if tp is bool:
            ok = isinstance(value, bool)
        elif tp is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
            value = float(value) if ok else value
        elif tp is str:
            ok = isinstance(value, str)
        else:
            raise TypeError(f"{key}: unsupported annotation {tp}")
        if not ok:
            raise ConfigError(f"{key}: expected {_type_name(tp)}{span}, got {shown}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{key}: expected {_type_name(tp)}{span}, got {shown}")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{key}: expected one of {', '.join(meta['choices'])}, got {shown}")
        if "pattern" in meta and not meta["pattern"].fullmatch(value):
            raise ConfigError(f"{key}: {shown} does not match {meta['pattern'].pattern}")
        if meta.get("path") and value:
            value = str(self.base_dir / Path(value).expanduser())
        return value

    def _secret_file(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a file path, got {_show(value)}")
        path = self.base_dir / Path(value).expanduser()
        try:
            secret = path.read_text().strip()
        except OSError as e:
            raise ConfigError(f"{key}: cannot read {path}: {e.strerror}") from None
        if not secret:
            raise ConfigError(f"{key}: {path} is empty")
        return secret

    @staticmethod
    def _join(path: str, name: str) -> str:
        return f"{path}.{name}" if path else name


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
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_config(table, path.parent.resolve())


def default_client_id() -> str:
    """``ecg-gateway-<hostname>``: stable across restarts, distinct between gateways."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", os.uname().nodename)[:40] or "host"
    return f"ecg-gateway-{host}"
