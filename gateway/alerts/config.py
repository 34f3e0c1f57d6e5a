"""The alert policy's settings (section ``[alerts]``): one flat table, assembled from each rule's slice.

Each rule module declares the keys it reads as a small frozen dataclass that
checks its own values; :class:`AlertConfig` is all of them together plus the
keys every rule shares (labels, severities, cool-downs, disabled types), so
the TOML stays one table and each rule can be built and tested from its
slice alone.  The defaults are the table in docs/alerts.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .atrial import AFSettings
from .checks import chain
from .counts import CountSettings
from .flutter import FlutterSettings
from .history import LabelSettings
from .lead_signal import SignalSettings
from .ledger import ArbitrationSettings
from .patterns import PatternSettings
from .rate import RateSettings
from .runs import RunSettings
from .types import ALERT_TYPES, DEFAULT_COOLDOWN, DEFAULT_SEVERITY, SEVERITIES


@dataclass(frozen=True)
class AlertConfig(LabelSettings, RateSettings, RunSettings, CountSettings, PatternSettings, FlutterSettings,
                  SignalSettings, AFSettings, ArbitrationSettings):
    """The alert policy (section ``[alerts]``); the defaults are the documented table."""

    # per-type overrides of DEFAULT_SEVERITY / DEFAULT_COOLDOWN, and types switched off
    severity: Mapping[str, str] = field(default_factory=dict)
    cooldown_s: Mapping[str, float] = field(default_factory=dict)
    disabled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        chain(self, AlertConfig)  # every slice's own checks first
        for table, check in (("severity", lambda v: v in SEVERITIES),
                             ("cooldown_s", lambda v: isinstance(v, (int, float)) and v >= 0)):
            for key, value in getattr(self, table).items():
                if key not in ALERT_TYPES:
                    raise ValueError(f"{table}.{key}: unknown alert type; known: {', '.join(ALERT_TYPES)}")
                if not check(value):
                    raise ValueError(f"{table}.{key}: invalid value {value!r}")
        for key in self.disabled:
            if key not in ALERT_TYPES:
                raise ValueError(f"disabled: unknown alert type {key!r}; known: {', '.join(ALERT_TYPES)}")

    def severity_of(self, kind: str) -> str:
        return self.severity.get(kind, DEFAULT_SEVERITY[kind])

    def cooldown_of(self, kind: str) -> float:
        return float(self.cooldown_s.get(kind, DEFAULT_COOLDOWN[kind]))
