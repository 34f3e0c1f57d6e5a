"""``ecg-web``: the caregivers' console.

``ecg-web serve --config FILE`` runs it (HTTP + the MQTT subscription);
``ecg-web adduser --config FILE NAME --patient ID ...`` creates or replaces
an account (the password from ``--password-file`` or asked for; a new
password ends the user's sessions); ``ecg-web users`` lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sqlite3
import ssl
import sys
import time

from ..service.logs import setup_logging
from ..service.typed_config import PATIENT_ID, ConfigError
from .auth import add_user
from .config import ConsoleConfig, load_console_config
from .live import Live
from .store import Store

log = logging.getLogger("gateway.web.main")


async def serve(config: ConsoleConfig, on_ready=None, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (SIGTERM/SIGINT set it under ``ecg-web serve``)."""
    from aiohttp import web

    from .app import Console

    store = Store(config.db_path)
    loop = asyncio.get_running_loop()
    live = Live(config, store)
    console = Console(config, store, live)
    runner = web.AppRunner(console.app(), access_log=None)
    await runner.setup()
    context = None
    if config.http.tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.http.tls.cert, config.http.tls.key)
    site = web.TCPSite(runner, config.http.host, config.http.port, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    live.start(loop)
    announcer = asyncio.create_task(live.announcer())
    url = f"{'https' if context else 'http'}://{config.http.host}:{port}/"
    log.info("console on %s; MQTT %s:%d prefix %r as %s", url, config.mqtt.host, config.mqtt.port,
             config.mqtt.prefix, config.client_id)
    print(f"ecg-web: serving on {url}", file=sys.stderr, flush=True)
    if on_ready:
        on_ready(port)
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    try:
        await stop.wait()
    finally:
        announcer.cancel()
        await runner.cleanup()
        await asyncio.to_thread(live.stop)
        store.close()
        log.info("stopped")


def _password(args) -> str:
    if args.password_file:
        with open(args.password_file) as f:
            return f.read().strip()
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ecg-web", description="The caregivers' web console "
                                     "(see deploy/web.example.toml and docs/console.md)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the console")
    p.add_argument("--config", required=True)
    p = sub.add_parser("adduser", help="create or replace an account and the patients it sees")
    p.add_argument("--config", required=True)
    p.add_argument("name")
    p.add_argument("--patient", action="append", default=[], help="a patient id this user sees (repeat)")
    p.add_argument("--password-file", help="read the password from this file (else it is asked for)")
    p = sub.add_parser("users", help="list the accounts and their patients")
    p.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    try:
        config = load_console_config(args.config)
    except ConfigError as e:
        print(f"ecg-web: configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "serve":
        setup_logging("INFO", "text")
        try:
            asyncio.run(serve(config))
        except (OSError, sqlite3.Error) as e:
            log.error("cannot run: %s", e)
            return 1
        return 0
    try:
        store = Store(config.db_path)
    except (OSError, sqlite3.Error) as e:
        print(f"ecg-web: cannot open {config.db_path}: {e}", file=sys.stderr)
        return 1
    try:
        if args.command == "users":
            for name, patients in store.users():
                print(f"{name}: {', '.join(patients) or '(no patients)'}")
            return 0
        bad = [p for p in args.patient if not PATIENT_ID.fullmatch(p)]
        if bad:
            raise ValueError(f"patient id {bad[0]!r} does not match {PATIENT_ID.pattern}")
        add_user(store, args.name, _password(args), args.patient, time.time())
        print(f"user {args.name}: sees {', '.join(args.patient) or 'no patients'}")
        return 0
    except (ValueError, OSError) as e:
        print(f"ecg-web: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
