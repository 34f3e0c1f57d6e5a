"""How many real-time 360 Hz devices one core of the gateway sustains, and its memory.

``python -m bench.devices [--model PATH] [--steps 50,100,150] [--seconds 20] [--threads 1,0]``

For each step, a fresh gateway process (the shipped model unless
``--model``) is pinned to one CPU and N simulated devices, in this process
(pinned to another CPU when there is one), each stream a committed MIT-BIH
excerpt (looped, different records and offsets) in real time: 36-sample
binary frames every 100 ms, as the firmware sends them.  Sampled once a
second from the gateway's own ``STATUS=`` line and /proc:

* processing lag: how far the slowest device's processing is behind the
  arrival of its frames (the service's ``lag``); falling behind shows as a
  lag that grows;
* the gateway's CPU use, as a share of the one core it is pinned to;
* event-loop lag: the worst lateness of the gateway's one-second timer
  (what the systemd watchdog sees);
* resident memory (now and peak) of the gateway process;
* the senders' own lateness, which must stay small for the figures to count.

A step is *sustained* when the lag stays under 1 s and does not grow over
the second half of the step.  ``--threads 1,0`` repeats each step with the
processors on one worker thread (the default) and on the event loop itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np

from gateway.tools.replay import replay

from .harness import cpu_seconds, devices, looped_counts, memory_mib, model_path, parse_status, running_gateway

RECORDS = ("e100", "e233", "e119", "e208", "e109", "e118", "e232", "e114")


async def drive(url: str, devs, seconds: float) -> tuple[list, list[float]]:
    """Stream every device in real time; returns the replay results and the senders' lateness samples."""
    lateness: list[float] = []

    async def one(i, dev):
        await asyncio.sleep(i * 1.0 / len(devs))  # spread the connections over a second
        counts, rate = looped_counts(RECORDS[i % len(RECORDS)], seconds, offset=7.3 * i)
        first: list[float] = []

        def on_frame(seq: int, sent: float) -> None:
            if not first:
                first.append(sent)
            lateness.append(sent - (first[0] + seq * 0.1))

        return await replay(url, dev.device_id, dev.token, counts, rate, on_frame=on_frame)

    results = await asyncio.gather(*(one(i, d) for i, d in enumerate(devs)))
    return results, lateness


def run_step(n: int, seconds: float, model, threads: int, gateway_cpu: int | None) -> dict:
    devs = devices(n)
    cpus = {gateway_cpu} if gateway_cpu is not None else None
    with running_gateway(devs, model, threads=threads, cpus=cpus) as (_broker, gateway, url):
        pid = gateway.pid()
        samples: list[dict] = []
        stop = False

        async def monitor():
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            while not stop:
                await asyncio.sleep(1.0)
                status = parse_status(gateway.status)
                cpu1, t1 = cpu_seconds(pid), time.monotonic()
                samples.append({**status, "cpu": (cpu1 - cpu0) / (t1 - t0), "rss": memory_mib(pid)[0]})
                cpu0, t0 = cpu1, t1

        async def main():
            nonlocal stop
            watcher = asyncio.create_task(monitor())
            results, lateness = await drive(url, devs, seconds)
            stop = True
            await watcher
            return results, lateness

        results, lateness = asyncio.run(main())
        rss, peak = memory_mib(pid)
    steady = samples[2:-1] or samples  # skip the connection ramp and the final closes
    half = steady[len(steady) // 2:]
    lags = [s.get("lag", 0.0) for s in steady]
    growing = len(half) > 2 and np.polyfit(range(len(half)), [s.get("lag", 0.0) for s in half], 1)[0] > 0.02
    ok_streams = sum(r.close_code == 1000 and r.errors == 0 for r in results)
    return {
        "n": n, "threads": threads, "cpu": float(np.mean([s["cpu"] for s in steady])),
        "lag_max": max(lags), "lag_end": lags[-1], "growing": growing,
        "loop_lag_ms": max(s.get("loop_lag_ms", 0.0) for s in steady),
        "rss": rss, "peak": peak, "beats": samples[-1].get("beats", 0) if samples else 0,
        "send_late_p99": float(np.percentile(lateness, 99)) if lateness else 0.0,
        "streams_ok": ok_streams, "sustained": max(lags) < 1.0 and not growing and ok_streams == n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.devices", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .tflite model (default: gateway/models/seed8.tflite)")
    parser.add_argument("--steps", default="50,100,150", help="device counts to try")
    parser.add_argument("--seconds", type=float, default=20.0, help="streaming time per step")
    parser.add_argument("--threads", default="1", help="processing_threads settings to compare, e.g. 1,0")
    args = parser.parse_args(argv)
    model = model_path(args.model)
    cores = sorted(os.sched_getaffinity(0))
    gateway_cpu = cores[-1] if len(cores) > 1 else None
    if gateway_cpu is not None:  # the simulated devices on the other CPUs
        os.sched_setaffinity(0, set(cores[:-1]))
    print(f"model {model.name}; gateway pinned to CPU {gateway_cpu}; devices on CPUs {sorted(os.sched_getaffinity(0))}; "
          f"load average {os.getloadavg()[0]:.1f} at start; {args.seconds:g} s per step")
    print(f"{'devices':>7} {'threads':>7} {'cpu%':>6} {'lag max s':>9} {'lag end s':>9} {'loop lag ms':>11} "
          f"{'RSS MiB':>8} {'peak MiB':>8} {'beats':>6} {'send p99 ms':>11}  sustained")
    for n in (int(x) for x in args.steps.split(",")):
        for threads in (int(x) for x in args.threads.split(",")):
            r = run_step(n, args.seconds, model, threads, gateway_cpu)
            failed = n - r["streams_ok"]
            print(f"{r['n']:7d} {r['threads']:7d} {100 * r['cpu']:6.1f} {r['lag_max']:9.2f} {r['lag_end']:9.2f} "
                  f"{r['loop_lag_ms']:11.0f} {r['rss']:8.1f} {r['peak']:8.1f} {r['beats']:6.0f} "
                  f"{1000 * r['send_late_p99']:11.1f}  {'yes' if r['sustained'] else 'NO'}"
                  + (f" ({failed} streams failed)" if failed else ""), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other work on this machine skews the figures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
