"""Structured logging: journald fields under systemd, key=value or JSON lines otherwise.

Context goes in ``extra`` (``log.info("...", extra={"device": "kit1"})``):
under systemd it becomes journal fields (``journalctl DEVICE=kit1``), on
a console it is appended as ``device=kit1`` or as JSON keys.  Secrets are
never passed to a logger (the config keeps them out of every ``repr``).
"""

from __future__ import annotations

import json
import logging
import sys
import time

from .systemd import under_journald

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The ``extra`` context of a record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO gateway.service.server: message key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
        context = " ".join(f"{k}={json.dumps(v) if isinstance(v, str) and ' ' in v else v}"
                           for k, v in extra_fields(record).items())
        if context:
            line += " " + context
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": round(record.created, 3), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage(), **extra_fields(record)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class PriorityPrefixFormatter(logging.Formatter):
    """``<3>gateway.service.server: message``: journald reads the syslog priority from the prefix."""

    def format(self, record: logging.LogRecord) -> str:
        priority = 3 if record.levelno >= logging.ERROR else 4 if record.levelno >= logging.WARNING else \
            6 if record.levelno >= logging.INFO else 7
        return f"<{priority}>{record.name}: {super().format(record)}"


def setup_logging(level: str = "INFO", fmt: str = "text") -> str:
    """Configure the root logger; returns where logs go (``journald``, ``text`` or ``json``)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(level)
    destination = fmt
    handler: logging.Handler
    if under_journald():
        try:
            from systemd.journal import JournalHandler

            handler = JournalHandler(SYSLOG_IDENTIFIER="ecg-gateway")
            destination = "journald"
        except ImportError:  # stderr is the journal anyway; journald adds the time stamps
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(PriorityPrefixFormatter())
            destination = "journald (stderr)"
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    logging.getLogger("websockets").setLevel(max(logging.WARNING, root.level))
    return destination
