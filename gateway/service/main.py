"""``ecg-gateway --config FILE``: the gateway service (WebSocket in, MQTT out) under systemd.

Start-up order matters for systemd's ``Type=notify``: the configuration is
validated, the model loaded and checked, the outbox opened and the socket
bound *before* ``READY=1``, so a unit that reports ready really accepts
devices.  While running, a one-second timer on the event loop ticks every
device's processor, pings the watchdog at half ``WatchdogSec`` (a blocked
loop therefore gets the service restarted) and updates ``STATUS=``.

SIGTERM/SIGINT stop it cleanly: stop accepting, close device sockets with
1001, finish every processor (their last beats and alerts are published),
mark the patients and the gateway ``offline``, wait at most
``mqtt.drain_timeout`` seconds for the broker to acknowledge the outbox,
and exit 0.  Alerts still unacknowledged stay in the outbox for the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys
import threading
import time

import numpy as np

from .. import __version__
from ..classify.adapt import AdaptationError, for_patient
from ..alerts.types import ALERT_TYPES
from .config import ConfigError, DeviceConfig, GatewayConfig, default_client_id, load_config
from .logs import setup_logging
from .mqtt import PahoBroker, Publisher
from .outbox import Outbox
from ..device import DeviceStream
from ..processor import StreamProcessor
from .protocol import StreamParams
from .recorder import make_recorder
from .server import IngestServer
from .systemd import Notifier
from .topics import Topics
from .trace import TraceTap

log = logging.getLogger("gateway.service.main")

#: How often processors are ticked and the status line is refreshed, seconds.
TICK = 1.0


class SharedClassifier:
    """One model for every device: classify calls from the processing threads take turns.

    The interpreter is not thread-safe, and one copy of the model keeps the
    gateway's memory small; beats are classified in batches, so the lock is
    taken a few times per second per device.
    """

    def __init__(self, classifier):
        self._classifier = classifier
        self._lock = threading.Lock()
        self.labels = classifier.labels
        self.scheme = classifier.scheme
        self.version = classifier.version
        self.metadata = getattr(classifier, "metadata", {})  # what an adaptation is checked against

    def classify(self, images: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            return self._classifier.classify(images, context)


class Gateway:
    """The running service: ingest server, MQTT publisher, outbox and the periodic timer."""

    def __init__(self, config: GatewayConfig, classifier, notifier: Notifier | None = None):
        self.config = config
        self.classifier = SharedClassifier(classifier)
        self.notifier = notifier or Notifier({})
        self.loop_lag = 0.0  # worst lateness of the one-second timer since the last status line
        self._stop = asyncio.Event()
        self.recorder = make_recorder(config.recording, config.state.dir)

    def make_processor(self, params: StreamParams, device: DeviceConfig, now: float) -> StreamProcessor:
        stream = DeviceStream(params.device_id, device.patient, params.rate, params.bits, params.lead_off,
                              gain=device.gain, vref=device.vref, zero=device.zero)
        processor = StreamProcessor(stream, self.classifier_for(device.patient), self.config.processor, now)
        if self.config.mqtt.trace:
            processor.sample_sink = TraceTap(params.device_id, now, self.config.mqtt.trace_hz,
                                             self._trace_sender(device.patient))
        return self.recorder.wrap(processor, device.patient) if self.recorder else processor

    def _trace_sender(self, patient: str):
        """Trace frames come from the processing threads; the publisher lives on the loop."""
        loop = asyncio.get_running_loop()

        def send(payload: bytes) -> None:
            try:
                loop.call_soon_threadsafe(self.publisher.publish_trace, patient, payload)
            except RuntimeError:  # the loop has closed while the last samples were processed
                pass
        return send

    def classifier_for(self, patient: str):
        """The patient's adapted classifier (``[model] adaptation_dir``), read now, so a new head is used from the
        next connection; the plain model when the patient has none, or, logged as an error, when it cannot be used."""
        try:
            classifier = for_patient(self.classifier, self.config.model.adaptation_dir, patient)
        except AdaptationError as e:
            log.error("patient %s: the plain model is used, the adaptation cannot be: %s", patient, e)
            return self.classifier
        if classifier is not self.classifier:
            log.info("patient %s: adapted classifier %s", patient, classifier.version)
        return classifier

    def stop(self) -> None:
        """Ask the service to shut down (signal handlers, tests)."""
        self._stop.set()

    async def run(self, on_ready=None) -> int:
        """Serve until :meth:`stop`; returns the number of alerts left in the outbox."""
        c = self.config
        client_id = c.mqtt.client_id or default_client_id()
        topics = Topics(c.mqtt.prefix, client_id)
        self.outbox = Outbox(c.state.dir)
        broker = PahoBroker(c.mqtt, client_id, topics.gateway_availability)
        self.publisher = Publisher(broker, self.outbox, topics, c.patients(), beat_stream=c.mqtt.beat_stream,
                                   discovery_prefix=c.mqtt.discovery_prefix if c.mqtt.ha_discovery else None,
                                   alert_types=ALERT_TYPES, model_version=self.classifier.version)
        self.server = IngestServer(c.server, c.devices, self.make_processor, self.publisher)
        self.publisher.start()
        self.port = await self.server.start()
        log.info("listening on ws://%s:%d/v1/stream for %d devices; MQTT %s:%d prefix %r; model %s",
                 c.server.host, self.port, len(c.devices), c.mqtt.host, c.mqtt.port, c.mqtt.prefix,
                 self.classifier.version)
        self.notifier.notify(READY=1, STATUS=self.status_line())
        if on_ready:
            on_ready(self)
        timer = asyncio.create_task(self._timer())
        await self._stop.wait()
        log.info("stopping")
        self.notifier.notify(STOPPING=1, STATUS="stopping: closing device connections")
        timer.cancel()
        await self.server.close()
        self.notifier.notify(STATUS=f"stopping: waiting for the broker to take {self.outbox_depth()} alerts")
        left = await self.publisher.stop(c.mqtt.drain_timeout)
        self.outbox.close()
        if left:
            log.warning("%d alerts wait in the outbox for the next start", left)
        log.info("stopped")
        return left

    def outbox_depth(self) -> int:
        return self.publisher.outbox_depth

    def status_line(self) -> str:
        s = self.server.stats(time.time())
        return (f"{s['devices']} devices, {s['samples']} samples, {s['lost_frames']} lost frames, "
                f"{s['bad_frames']} bad frames, {s['beats']} beats, {s['alerts']} alerts, "
                f"outbox {self.outbox_depth()}, MQTT {'up' if self.publisher.connected else 'down'}, "
                f"lag {s['lag']:.2f} s, loop lag {self.loop_lag * 1000:.0f} ms")

    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        watchdog = self.notifier.watchdog_interval
        next_ping = loop.time()
        expected = loop.time() + TICK
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            self.loop_lag = max(self.loop_lag, loop.time() - expected)
            expected += TICK
            now = time.time()
            self.server.tick(now)
            fields: dict[str, object] = {"STATUS": self.status_line()}
            self.loop_lag = 0.0
            if watchdog is not None and loop.time() >= next_ping:
                fields["WATCHDOG"] = 1
                next_ping = loop.time() + watchdog
            self.notifier.notify(**fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-gateway", description="ECG edge gateway: WebSocket devices in, "
                                     "MQTT alerts out (see deploy/gateway.example.toml)")
    parser.add_argument("--config", required=True, help="the gateway's TOML configuration file")
    parser.add_argument("--check", action="store_true",
                        help="validate the configuration and the model, print a summary and exit")
    parser.add_argument("--version", action="version", version=f"ecg-gateway {__version__}")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"ecg-gateway: configuration error: {e}", file=sys.stderr)
        return 2
    destination = setup_logging(config.logging.level, config.logging.format)
    log.info("ecg-gateway %s starting (logging to %s)", __version__, destination)
    from ..classify.model import ModelError, load_model

    try:
        classifier = load_model(config.model.path, config.model.scheme)
    except (ModelError, OSError) as e:
        log.error("cannot load the model: %s", e)
        return 3
    adapted = []
    for patient in config.patients():  # a bad head stops the start, where it is seen, not a connection later
        try:
            if for_patient(classifier, config.model.adaptation_dir, patient) is not classifier:
                adapted.append(patient)
        except AdaptationError as e:
            log.error("model.adaptation_dir: patient %s: %s", patient, e)
            return 3
    if args.check:
        print(f"configuration OK: {len(config.devices)} devices ({', '.join(config.patients()) or 'no patients'}), "
              f"ws://{config.server.host}:{config.server.port}/v1/stream, MQTT {config.mqtt.host}:{config.mqtt.port} "
              f"prefix {config.mqtt.prefix!r}, model {classifier.version}, state in {config.state.dir}, "
              f"adapted patients: {', '.join(adapted) or 'none'}")
        return 0
    notifier = Notifier()
    if notifier.watchdog_interval and notifier.watchdog_interval < TICK:
        log.warning("WatchdogSec is shorter than %g s; the watchdog may fire", 2 * TICK)

    async def serve() -> None:
        gateway = Gateway(config, classifier, notifier)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gateway.stop)
        await gateway.run()

    try:
        asyncio.run(serve())
    except (OSError, sqlite3.Error) as e:  # the port is taken, the state directory is not writable, ...
        log.error("cannot run: %s", e)
        return 1
    finally:
        notifier.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
