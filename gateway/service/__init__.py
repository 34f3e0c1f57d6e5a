"""The service adapters around the sans-I/O processor: WebSocket server and protocol, MQTT publisher, outbox, config, logs, systemd.

Imports anything below it (processor, signal, classify, alerts); the only place besides ``gateway.tools`` with sockets, MQTT and the clock.
"""
