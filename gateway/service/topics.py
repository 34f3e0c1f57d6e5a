"""The MQTT topic layout, in one place (documented in docs/mqtt.md).

``<prefix>/<patient>/{alert,status,availability,beat,trace,ack}`` per patient, and
``<prefix>/_gateway/<gateway id>/availability`` for the gateway itself (its
last will).  Patient ids cannot start with ``_`` (gateway.service.config), so the
two never collide.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    gateway_id: str

    def alert(self, patient: str) -> str:
        return f"{self.prefix}/{patient}/alert"

    def status(self, patient: str) -> str:
        return f"{self.prefix}/{patient}/status"

    def availability(self, patient: str) -> str:
        return f"{self.prefix}/{patient}/availability"

    def beat(self, patient: str) -> str:
        return f"{self.prefix}/{patient}/beat"

    def trace(self, patient: str) -> str:
        return f"{self.prefix}/{patient}/trace"

    def ack(self, patient: str) -> str:
        return f"{self.prefix}/{patient}/ack"

    @property
    def gateway_availability(self) -> str:
        return f"{self.prefix}/_gateway/{self.gateway_id}/availability"
