"""systemd integration: sd_notify datagrams, the watchdog interval, journald detection, log formats."""

from __future__ import annotations

import json
import logging
import os
import socket

from gateway.service.logs import JsonFormatter, TextFormatter
from gateway.service.systemd import Notifier, under_journald


def test_notify_sends_key_value_lines_to_the_notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        notifier = Notifier({"NOTIFY_SOCKET": path})
        notifier.notify(READY=1, STATUS="2 devices\nand more")
        assert manager.recv(1024) == b"READY=1\nSTATUS=2 devices and more"
        notifier.close()


def test_an_abstract_notify_socket_is_supported():
    name = f"ecg-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        Notifier({"NOTIFY_SOCKET": "@" + name}).notify(WATCHDOG=1)
        assert manager.recv(1024) == b"WATCHDOG=1"


def test_without_systemd_notifying_does_nothing():
    notifier = Notifier({})
    notifier.notify(READY=1)
    assert notifier.address is None and notifier.watchdog_interval is None


def test_the_watchdog_is_pinged_at_half_its_interval_and_only_by_its_process():
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 15.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 15.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "junk"}).watchdog_interval is None


def test_journald_is_detected_by_the_device_and_inode_of_stderr(tmp_path):
    with open(tmp_path / "log", "w") as f:
        st = os.fstat(f.fileno())
        assert under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f.fileno())
        assert not under_journald({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, f.fileno())
        assert not under_journald({}, f.fileno())


def record(**extra) -> logging.LogRecord:
    r = logging.LogRecord("gateway.service.server", logging.WARNING, __file__, 1, "device %s refused", ("kit1",), None)
    r.__dict__.update(extra)
    return r


def test_text_logs_carry_the_context_as_key_value_pairs():
    line = TextFormatter().format(record(device="kit1", reason="wrong token"))
    assert line.endswith('WARNING gateway.service.server: device kit1 refused device=kit1 reason="wrong token"')


def test_json_logs_are_one_object_per_line_with_the_context():
    entry = json.loads(JsonFormatter().format(record(device="kit1")))
    assert (entry["level"], entry["logger"], entry["message"], entry["device"]) == \
        ("WARNING", "gateway.service.server", "device kit1 refused", "kit1")
