"""A paho MQTT client set up from a broker section: credentials, TLS, reconnection.

The gateway's publisher (:mod:`gateway.service.mqtt`) and the console
(:mod:`gateway.web.live`) connect the same way; this module imports only
paho and ``ssl``, so the console loads none of the gateway's signal chain.
"""

from __future__ import annotations

import ssl


def make_client(config, client_id: str, *, clean_session: bool = True):
    """A VERSION2-callback MQTT 3.1.1 client for ``config`` (``username``, ``password``, ``tls`` with ``ca``,
    ``cert``, ``key``), reconnecting every 1 to 30 s; not connected yet."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, protocol=mqtt.MQTTv311)
    if config.username is not None:
        client.username_pw_set(config.username, config.password)
    if config.tls is not None:
        client.tls_set(ca_certs=config.tls.ca, certfile=config.tls.cert, keyfile=config.tls.key,
                       cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
