"""systemd integration without a hard dependency: sd_notify and the watchdog interval.

The notify protocol is one datagram to ``$NOTIFY_SOCKET`` (sd_notify(3)),
so it is written here directly; the unit (deploy/ecg-gateway.service) is
``Type=notify`` with ``WatchdogSec=``.  The gateway sends ``READY=1`` only
once the model is loaded and the socket is bound, ``WATCHDOG=1`` from its
event loop (so a blocked loop gets the service restarted), ``STATUS=`` with
a one-line summary, and ``STOPPING=1`` when it begins a clean shutdown.
Outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from typing import Mapping


class Notifier:
    """Sends sd_notify messages to the service manager, if there is one."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self.address = address or None
        self._socket: socket.socket | None = None
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        mine = pid is None or pid == str(os.getpid())
        #: seconds between WATCHDOG=1 pings (half of WatchdogSec), or None without a watchdog
        self.watchdog_interval = int(usec) / 2e6 if usec and usec.isdigit() and int(usec) > 0 and mine else None

    def notify(self, **fields: object) -> None:
        """Send ``KEY=value`` lines, e.g. ``notify(READY=1, STATUS="...")``."""
        if self.address is None:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        message = "\n".join(f"{key}={str(value).replace(chr(10), ' ')}" for key, value in fields.items())
        self._socket.sendto(message.encode(), self.address)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def under_journald(environ: Mapping[str, str] = os.environ, stream_fd: int = 2) -> bool:
    """True when ``stream_fd`` is connected to the journal (``$JOURNAL_STREAM`` names its device:inode)."""
    value = environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        st = os.fstat(stream_fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)
