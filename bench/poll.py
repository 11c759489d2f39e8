"""Benchmark: 50 simulated devices x 40 points over Modbus TCP on loopback.

The devices run in a separate process (sim.modbus.farm); this process runs, in
turn, a bare pymodbus baseline and the bus engine against the same servers, and
prints:
  (a) transactions per poll cycle with block planning vs one request per point;
  (b) transactions/s of the engine vs a bare sequential pymodbus client loop (the
      goal ratio is >= 0.85), plus two fairer references: bare loops with the same
      concurrency as the engine (one task per device; ROUNDS alternating rounds, the
      median ratio), and one device alone;
  (c) CPU seconds (this process) per 1000 point reads.

Usage: .venv/bin/python bench/poll.py [--seconds 4] [--devices 50]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog
from pymodbus.client import AsyncModbusTcpClient

from drivers.modbus.bus import Bus
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.planner import plan_profile
from drivers.modbus.points import DeviceProfile
from sim.modbus.farm import start_farm, stop_farm

REGISTERS = 40
ROUNDS = 3


def bench_profile() -> DeviceProfile:
    """40 points: 20 holding uint16 (every other register: holes of 1), and in the
    input table 10 int16, 5 float32 and 5 uint32."""
    points: list[dict[str, object]] = []
    for i in range(20):
        points.append({"name": f"h{i}", "table": "holding", "address": 2 * i})
    for i in range(10):
        points.append({"name": f"t{i}", "table": "input", "address": i, "datatype": "int16"})
    for i in range(5):
        points.append(
            {"name": f"f{i}", "table": "input", "address": 10 + 2 * i, "datatype": "float32"}
        )
    for i in range(5):
        points.append(
            {"name": f"u{i}", "table": "input", "address": 20 + 2 * i, "datatype": "uint32"}
        )
    return msgspec.convert({"name": "bench_40", "points": points}, DeviceProfile)


async def bare_loop(
    ports: list[int], blocks: list[tuple[str, int, int]], seconds: float, concurrent: bool
) -> tuple[int, float, float]:
    """Bare pymodbus: read each device's blocks; sequential over all devices, or one
    task per device. Returns (transactions, wall s, cpu s)."""
    clients = [AsyncModbusTcpClient("127.0.0.1", port=p, timeout=2, retries=0) for p in ports]
    for c in clients:
        await c.connect()
    count = 0
    stop = time.perf_counter() + seconds

    async def one(c: AsyncModbusTcpClient) -> None:
        for table, start, n in blocks:
            if table == "holding":
                rr = await c.read_holding_registers(start, count=n, device_id=1)
            else:
                rr = await c.read_input_registers(start, count=n, device_id=1)
            assert not rr.isError()

    async def device_loop(c: AsyncModbusTcpClient) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await one(c)
            count += len(blocks)

    cpu0, t0 = time.process_time(), time.perf_counter()
    if concurrent:
        await asyncio.gather(*(device_loop(c) for c in clients))
    else:
        while time.perf_counter() < stop:
            for c in clients:
                await one(c)
                count += len(blocks)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for c in clients:
        c.close()
    return count, wall, cpu


async def engine(
    ports: list[int], profile: DeviceProfile, seconds: float
) -> tuple[int, int, float, float]:
    """One Bus per device (each TCP device is its own link), polling as fast as it can.
    Returns (transactions, errors, wall s, cpu s)."""
    events = 0

    def on_event(_e: object) -> None:
        nonlocal events
        events += 1

    buses = [
        Bus(
            TcpLink("127.0.0.1", port),
            [DeviceConfig(f"d{i}", 1, profile, poll_interval_s=0.0, timeout_s=2.0)],
            on_event=on_event,
        )
        for i, port in enumerate(ports)
    ]
    for b in buses:
        await b.__aenter__()
    await asyncio.sleep(0.5)  # warm-up: first cycle emits every point once
    base = [(b.stats.transactions, b.stats.errors) for b in buses]
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    tx = sum(b.stats.transactions - t for b, (t, _) in zip(buses, base, strict=True))
    err = sum(b.stats.errors - e for b, (_, e) in zip(buses, base, strict=True))
    for b in buses:
        await b.__aexit__(None, None, None)
    return tx, err, wall, cpu


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--devices", type=int, default=50)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    profile = bench_profile()
    blocks = plan_profile(profile)
    block_list = [(b.table.value, b.start, b.count) for b in blocks]
    points_per_tx = len(profile.points) / len(blocks)
    n = args.devices
    print(f"devices={n} points/device={len(profile.points)} seconds/phase={args.seconds}")
    print(
        f"(a) transactions per cycle: {len(blocks) * n} with block planning vs "
        f"{len(profile.points) * n} one-per-point ({len(profile.points) / len(blocks):.0f}x fewer)"
    )
    proc, ports = start_farm(n, REGISTERS)
    try:
        s = args.seconds
        b1 = await bare_loop(ports, block_list, s, concurrent=False)
        # The engine alternates with its same-concurrency baseline: each round compares two
        # neighbouring phases, so a neighbour's load hits both alike (median of the rounds).
        rounds = []
        for _ in range(ROUNDS):
            bc = await bare_loop(ports, block_list, s, concurrent=True)
            rounds.append((bc, await engine(ports, profile, s)))
        b2 = await bare_loop(ports, block_list, s, concurrent=False)
        one_bare = await bare_loop(ports[:1], block_list, s, concurrent=False)
        one_eng = await engine(ports[:1], profile, s)
    finally:
        stop_farm(proc)

    def rate(r: tuple[int, float, float] | tuple[int, int, float, float]) -> float:
        """Transactions per wall second: (count, wall, cpu) or (tx, errors, wall, cpu)."""
        return r[0] / r[-2]

    bare_seq = (rate(b1) + rate(b2)) / 2
    engines = [e for _, e in rounds]
    eng = sum(e[0] for e in engines) / sum(e[2] for e in engines)
    errors = sum(e[1] for e in engines)
    print(
        f"(b) engine {eng:,.0f} tx/s (errors {errors}) vs bare sequential loop "
        f"{bare_seq:,.0f} tx/s -> ratio {eng / bare_seq:.2f} (goal >= 0.85)"
    )
    ratios = [rate(e) / rate(bc) for bc, e in rounds]
    bare_conc = statistics.median(rate(bc) for bc, _ in rounds)
    print(
        f"    same concurrency (one task per device): bare {bare_conc:,.0f} tx/s "
        f"-> ratio {statistics.median(ratios):.2f} (median; rounds "
        f"{', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"    one device alone: engine {rate(one_eng):,.0f} tx/s vs bare {rate(one_bare):,.0f}"
        f" tx/s -> ratio {rate(one_eng) / rate(one_bare):.2f}"
    )
    eng_points = sum(e[0] for e in engines) * points_per_tx
    eng_cpu = sum(e[3] for e in engines)
    bare_points = (b1[0] + b2[0]) * points_per_tx
    bare_cpu = b1[2] + b2[2]
    print(
        f"(c) CPU per 1000 point reads: engine {1000 * eng_cpu / eng_points:.4f} s "
        f"(decode + report-by-exception included); bare loop {1000 * bare_cpu / bare_points:.4f}"
        " s (raw registers, no decoding)"
    )


if __name__ == "__main__":
    asyncio.run(main())
