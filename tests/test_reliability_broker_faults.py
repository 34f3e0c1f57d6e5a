"""Broker faults: alerts raised throughout a Mosquitto outage, and a gateway crash during one, all arrive, once by id.

The outage here lasts 6 s; ``python -m bench.soak --outage 30`` runs the
30 s version.  Single-alert versions of both faults are in test_mqtt.py and
test_e2e.py; these keep two devices raising alerts before, during and after.
"""

from __future__ import annotations

from broker_outage import run_outage


def test_every_alert_raised_around_a_broker_outage_arrives_once(mosquitto, tmp_path):
    result = run_outage(mosquitto, tmp_path, outage_s=6.0)
    assert result.outbox_peak >= 4  # alerts really waited for the broker
    assert result.raised >= 12
    assert_each_alert_arrives_once_by_id(result)


def test_alerts_waiting_in_the_outbox_survive_a_gateway_crash_during_an_outage(mosquitto, tmp_path):
    result = run_outage(mosquitto, tmp_path, outage_s=5.0, crash=True)
    assert result.outbox_peak >= 4
    assert_each_alert_arrives_once_by_id(result)


def assert_each_alert_arrives_once_by_id(result) -> None:
    """Every raised alert arrives, and de-duplicated by id (as subscribers must, see docs/mqtt.md) once.

    MQTT QoS 1 is at-least-once: a PUBLISH whose PUBACK the outage swallowed is
    sent again, so the raw stream may hold a repeat; an id that two different
    alerts shared would make the distinct ids fewer than the alerts raised.
    """
    assert len(set(result.ids)) == result.raised, \
        f"{result.raised} raised, {len(set(result.ids))} distinct ids arrived ({result.duplicates} repeats)"
