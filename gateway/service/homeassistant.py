"""Home Assistant MQTT discovery: each patient appears as a device with no YAML.

Per patient the gateway announces (retained, under the discovery prefix):
a heart-rate sensor and a lead-off problem sensor fed by the retained
status topic, and an arrhythmia event entity fed by the alert topic.  Every
entity is available only while both the gateway and the patient's device
are online (``availability_mode: all``; see docs/mqtt.md).
"""

from __future__ import annotations

from typing import Iterable

from .. import __version__
from .topics import Topics

#: Event type sent for an alert whose condition has ended (``state == "cleared"``).
CLEARED_EVENT = "cleared"

_EVENT_TEMPLATE = (
    "{{ {'event_type': value_json.type if value_json.state == 'raised' else '" + CLEARED_EVENT + "',"
    " 'alert_type': value_json.type, 'severity': value_json.severity, 'message': value_json.message,"
    " 'heart_rate': value_json.heart_rate, 'alert_id': value_json.id, 'start': value_json.start} | tojson }}"
)


def discovery_messages(topics: Topics, patient: str, alert_types: Iterable[str], model_version: str,
                       discovery_prefix: str = "homeassistant") -> list[tuple[str, dict]]:
    """(config topic, config payload) for every entity of one patient."""
    node = f"ecg_{patient}"
    common = {
        "device": {
            "identifiers": [node],
            "name": f"ECG monitor {patient}",
            "manufacturer": "ecg-edge",
            "model": "AD8232 ECG kit via ecg-gateway",
            "sw_version": f"{__version__} ({model_version})",
        },
        "availability": [{"topic": topics.gateway_availability}, {"topic": topics.availability(patient)}],
        "availability_mode": "all",
    }
    entities = [
        ("sensor", "heart_rate", {
            "name": "Heart rate",
            "state_topic": topics.status(patient),
            "value_template": "{{ value_json.heart_rate }}",
            "unit_of_measurement": "bpm",
            "state_class": "measurement",
            "icon": "mdi:heart-pulse",
        }),
        ("binary_sensor", "lead_off", {
            "name": "Lead off",
            "state_topic": topics.status(patient),
            "value_template": "{{ 'ON' if value_json.lead == 'off' else 'OFF' }}",
            "device_class": "problem",
        }),
        ("event", "arrhythmia", {
            "name": "Arrhythmia",
            "state_topic": topics.alert(patient),
            "event_types": [*alert_types, CLEARED_EVENT],
            "value_template": _EVENT_TEMPLATE,
            "icon": "mdi:heart-flash",
        }),
    ]
    return [(f"{discovery_prefix}/{component}/{node}/{object_id}/config",
             {**config, "unique_id": f"{node}_{object_id}", **common})
            for component, object_id, config in entities]
