"""The console's configuration (``ecg-web --config FILE``): TOML into frozen, validated dataclasses.

The same loader as the gateway's (gateway.service.config), so a mistake
names its key; ``deploy/web.example.toml`` documents every key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..service.typed_config import TOPIC_PREFIX, TlsConfig, _range, load_dataclass, read_toml


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_range(0, 65535))  # 0: any free port (tests)
    tls: TlsConfig | None = None  # cert + key: serve HTTPS (cookies are then Secure)
    secure_cookie: bool = False  # true behind a TLS-terminating proxy: the browser sends the cookie only over HTTPS
    max_upload_mb: float = field(default=50.0, metadata=_range(0.01, 2048))


@dataclass(frozen=True)
class SecurityConfig:
    session_hours: float = field(default=12.0, metadata=_range(0.01, 24 * 90))  # idle time before a new login
    login_window_s: float = field(default=300.0, metadata=_range(1, 86400))
    max_failures_per_account: int = field(default=5, metadata=_range(1, 10_000))  # within the window
    max_failures_per_address: int = field(default=20, metadata=_range(1, 10_000))


@dataclass(frozen=True)
class ConsoleMqttConfig:
    host: str = "127.0.0.1"
    port: int = field(default=1883, metadata=_range(1, 65535))
    prefix: str = field(default="ecg", metadata={"pattern": TOPIC_PREFIX})
    client_id: str = field(default="", metadata={"pattern": re.compile(r"[A-Za-z0-9_-]{0,64}")})  # "" -> ecg-web-<host>
    username: str | None = None
    password: str | None = field(default=None, repr=False, metadata={"secret": True, "file_key": "password_file"})
    tls: TlsConfig | None = None
    keepalive: int = field(default=30, metadata=_range(5, 3600))


@dataclass(frozen=True)
class AlertingConfig:
    renotify_s: float = field(default=120.0, metadata=_range(5, 86400))  # unacknowledged critical: announce again


@dataclass(frozen=True)
class ConsoleConfig:
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: ConsoleMqttConfig = field(default_factory=ConsoleMqttConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    state_dir: str = field(default="/var/lib/ecg-web", metadata={"path": True})  # console.db, reports
    recordings_dir: str = field(default="", metadata={"path": True})  # the gateway's recordings, when on this machine
    adaptation_dir: str = field(default="", metadata={"path": True})  # where ecg-adapt writes <patient>.npz

    @property
    def client_id(self) -> str:
        """``ecg-web-<hostname>`` unless configured: fixed, so the broker keeps the console's session."""
        if self.mqtt.client_id:
            return self.mqtt.client_id
        host = re.sub(r"[^A-Za-z0-9_-]", "-", os.uname().nodename)[:40] or "host"
        return f"ecg-web-{host}"

    @property
    def db_path(self) -> Path:
        return Path(self.state_dir) / "console.db"


def load_console_config(path: str | Path) -> ConsoleConfig:
    path = Path(path)
    return load_dataclass(ConsoleConfig, read_toml(path), path.parent.resolve())
