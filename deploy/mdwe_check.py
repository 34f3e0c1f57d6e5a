"""Does the gateway's Python stack run under systemd's MemoryDenyWriteExecute=yes?

ecg-gateway.service sets ``MemoryDenyWriteExecute=yes``: the kernel then
refuses memory that is writable and executable (JIT-style code), which a
library that generates code at run time (some interpreters' kernels do)
would need.  This installs the same seccomp rules systemd installs for that
setting (mmap/mmap2 with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect adding
PROT_EXEC, shmat with SHM_EXEC all fail with EPERM), checks they bite, then
imports the runtime stack, loads a model with the LiteRT interpreter and
classifies a batch, and runs the stream processor over a few seconds of
signal.  Exit 0 and "MemoryDenyWriteExecute: OK" when everything ran.

    /opt/ecg-gateway/venv/bin/python deploy/mdwe_check.py [--model PATH.tflite]

Without ``--model`` the shipped model is used.  Needs libseccomp
(``libseccomp2``, present wherever systemd is).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import mmap
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_EPERM = 0x00050000 | errno.EPERM
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC = mmap.PROT_WRITE, mmap.PROT_EXEC
SHM_EXEC = 0o100000


class ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp`` of libseccomp."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def deny_write_execute() -> None:
    """Load systemd's MemoryDenyWriteExecute seccomp rules into this process."""
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as e:
        raise SystemExit(f"mdwe_check: libseccomp is not available ({e}); apt-get install libseccomp2") from e
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    rules = [("mmap", 2, PROT_WRITE | PROT_EXEC), ("mmap2", 2, PROT_WRITE | PROT_EXEC),
             ("mprotect", 2, PROT_EXEC), ("pkey_mprotect", 2, PROT_EXEC), ("shmat", 2, SHM_EXEC)]
    for syscall, arg, mask in rules:
        nr = lib.seccomp_syscall_resolve_name(syscall.encode())
        if nr < 0:  # e.g. mmap2 exists on 32-bit architectures only
            continue
        cmp = ArgCmp(arg, SCMP_CMP_MASKED_EQ, mask, mask)
        if lib.seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO_EPERM, nr, 1, ctypes.byref(cmp)) != 0:
            raise SystemExit(f"mdwe_check: cannot add the seccomp rule for {syscall}")
    if lib.seccomp_load(ctx) != 0:
        raise SystemExit("mdwe_check: seccomp_load failed")


def filter_bites() -> bool:
    """True if a writable+executable mapping is now refused (the rules are in force)."""
    try:
        mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | PROT_WRITE | PROT_EXEC).close()
    except PermissionError:
        return True
    return False


def exercise(model: str | None) -> str:
    """Import and run what ecg-gateway runs; returns a one-line account."""
    import numpy as np

    import gateway.service.server  # noqa: F401  (websockets)
    import paho.mqtt.client  # noqa: F401
    from gateway.signal.context import N_CONTEXT
    from gateway.classify.model import load_model
    from gateway.device import DeviceStream
    from gateway.processor import ProcessorConfig, StreamProcessor
    from gateway.signal.raster import render_beats

    classifier = load_model(model, backend="ai_edge_litert")
    t = np.arange(512) / 360.0
    windows = np.stack([np.exp(-0.5 * ((t - 256 / 360) / w) ** 2) for w in (0.01, 0.02, 0.04)])
    labels, probs = classifier.classify(render_beats(windows), np.zeros((len(windows), N_CONTEXT), np.float32))
    stream = DeviceStream("check", "check", 360)
    processor = StreamProcessor(stream, classifier, ProcessorConfig(), 0.0)
    beat = np.exp(-0.5 * ((np.arange(300) - 150) / 4.0) ** 2)  # 72 beats/min of R waves, 1 mV
    counts = stream.mv_to_counts(np.tile(beat, 24))
    events = []
    for i in range(0, counts.size, 36):
        events += processor.feed(counts[i:i + 36], now=i / 360.0)
    events += processor.close(counts.size / 360.0)
    return (f"classified {len(labels)} images with {classifier.backend} ({classifier.version}), "
            f"processor gave {len(events)} events over {counts.size / 360:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .tflite with its .json beside it (default: the shipped model)")
    args = parser.parse_args(argv)
    deny_write_execute()
    if not filter_bites():
        print("mdwe_check: the seccomp rules are not in force; nothing was checked", file=sys.stderr)
        return 2
    print(exercise(args.model))
    print("MemoryDenyWriteExecute: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
