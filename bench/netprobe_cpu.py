"""Benchmark: CPU of the network device monitor at 50 cameras probed every 10 s.

The cameras run in another process (`python -m sim.cameras`); this process runs, over
the same fixed window, first a bare asyncio loop (the baseline: what an idle process
costs) and then `NetMonitor` with 50 cameras, and prints utime+stime from
/proc/self/stat for each, the monitor's share of one core, and its CPU per probe.

Usage: .venv/bin/python bench/netprobe_cpu.py [--seconds 60] [--cameras 50]
       [--interval 10] [--kind rtsp|http|onvif|tcp|mixed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from drivers.modbus.events import BusEvent
from drivers.netprobe import NetDevice, NetMonitor, ProbeKind

TICKS = os.sysconf("SC_CLK_TCK")
PORT_INDEX = {"rtsp": 1, "http": 2, "onvif": 3, "tcp": 1}


def cpu_s() -> float:
    """utime + stime of this process, in seconds."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def baseline(seconds: float) -> float:
    start = cpu_s()
    await asyncio.sleep(seconds)
    return cpu_s() - start


async def monitored(devices: list[NetDevice], seconds: float) -> tuple[float, int, int]:
    events: list[BusEvent] = []
    async with NetMonitor(devices, on_event=events.append) as mon:
        await asyncio.sleep(devices[0].interval_s)  # warm-up: every camera probed once
        probes0 = sum(mon.health(d.name).probes for d in devices)
        start = cpu_s()
        await asyncio.sleep(seconds)
        used = cpu_s() - start
        probes = sum(mon.health(d.name).probes for d in devices) - probes0
        online = mon.counts().online
    return used, probes, online


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--kind", default="mixed", choices=[*PORT_INDEX, "mixed"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    server = subprocess.Popen(
        [sys.executable, "-m", "sim.cameras", "--count", str(args.cameras)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert server.stdout is not None
        ports: dict[str, list[object]] = json.loads(server.stdout.readline())
        kinds = list(PORT_INDEX) if args.kind == "mixed" else [args.kind]
        devices = []
        for i, (name, ep) in enumerate(ports.items()):
            kind = kinds[i % len(kinds)]
            devices.append(
                NetDevice(
                    name=name,
                    host=str(ep[0]),
                    probe=ProbeKind(kind),
                    port=int(str(ep[PORT_INDEX[kind]])),
                    interval_s=args.interval,
                )
            )
        base = asyncio.run(baseline(args.seconds))
        used, probes, online = asyncio.run(monitored(devices, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)

    window = args.seconds
    print(f"{args.cameras} cameras, {args.kind} probes every {args.interval:g} s, "
          f"window {window:g} s (clock tick {1000 / TICKS:g} ms)")  # fmt: skip
    print(f"  baseline (idle asyncio loop): {base:.3f} s CPU = "
          f"{100 * base / window:.3f} % of a core")  # fmt: skip
    print(f"  monitor: {used:.3f} s CPU = {100 * used / window:.3f} % of a core, "
          f"{probes} probes, {online}/{args.cameras} online")  # fmt: skip
    extra = max(0.0, used - base)
    if probes:
        print(f"  monitor minus baseline: {100 * extra / window:.3f} % of a core, "
              f"{1e6 * extra / probes:.0f} us CPU per probe")  # fmt: skip


if __name__ == "__main__":
    main()
