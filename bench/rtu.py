"""Benchmark: bus utilisation on a simulated RS-485 bus with the RTU wire-time model.

Several units share one socat pty; the simulator delays each reply by the wire time
at the baud rate (11 bits per character, 3.5-character silences, turnaround). The bus
engine polls 10-register blocks as fast as the bus allows. Printed: achieved
transactions/s over the theoretical maximum for those frame sizes (goal >= 0.9), next
to a bare pymodbus serial client loop (same wire model, keeping the same silence)
measured in the same run.

Usage: .venv/bin/python bench/rtu.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.framer import FramerType

from drivers.modbus.bus import Bus
from drivers.modbus.links import DeviceConfig, RtuLink
from drivers.modbus.points import DeviceProfile
from sim.modbus import SimUnit, serve_rtu_pty
from sim.modbus.wire import WireModel, silence_time

REQUEST_BYTES = 8  # unit, fc, address, count, crc
REPLY_BYTES = 5 + 2 * 10  # unit, fc, byte count, 20 data bytes, crc


def profile_10() -> DeviceProfile:
    points = [{"name": f"r{i}", "table": "holding", "address": i} for i in range(10)]
    return msgspec.convert({"name": "ten", "points": points}, DeviceProfile)


async def bare(port: str, units: list[int], baud: int, seconds: float) -> float:
    client = AsyncModbusSerialClient(port, framer=FramerType.RTU, baudrate=baud, timeout=1)
    await client.connect()
    gap = silence_time(baud)
    count = 0
    t0 = time.perf_counter()
    stop = t0 + seconds
    while time.perf_counter() < stop:
        for u in units:
            rr = await client.read_holding_registers(0, count=10, device_id=u)
            assert not rr.isError()
            count += 1
            await asyncio.sleep(gap)
    rate = count / (time.perf_counter() - t0)
    client.close()
    return rate


async def engine(port: str, units: list[int], baud: int, seconds: float) -> tuple[float, int]:
    devices = [
        DeviceConfig(f"u{u}", u, profile_10(), poll_interval_s=0.0, timeout_s=1.0) for u in units
    ]
    async with Bus(RtuLink(port, baudrate=baud), devices) as bus:
        await asyncio.sleep(0.5)
        tx0, t0 = bus.stats.transactions, time.perf_counter()
        await asyncio.sleep(seconds)
        tx, wall = bus.stats.transactions - tx0, time.perf_counter() - t0
        errors = bus.stats.errors
    return tx / wall, errors


async def run(baud: int, turnaround: float, seconds: float) -> None:
    units = [SimUnit(i) for i in range(1, 6)]
    ids = [u.unit_id for u in units]
    async with serve_rtu_pty(units, baudrate=baud, wire_time=True, turnaround_s=turnaround) as s:
        eng, errors = await engine(s.client_port, ids, baud, seconds)
        base = await bare(s.client_port, ids, baud, seconds)
    theory = 1 / WireModel(baud, turnaround).transaction_time(REQUEST_BYTES, REPLY_BYTES)
    print(
        f"{baud:>6} baud, turnaround {turnaround * 1000:4.1f} ms: theoretical max "
        f"{theory:6.1f} tx/s | engine {eng:6.1f} tx/s -> utilisation {eng / theory:.3f} "
        f"(goal >= 0.9, errors {errors}) | bare loop {base:6.1f} tx/s -> {base / theory:.3f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(
        "5 units on one pty, 10-register reads "
        f"({REQUEST_BYTES}-byte request, {REPLY_BYTES}-byte reply)"
    )
    await run(19200, 0.0, args.seconds)
    await run(19200, 0.010, args.seconds)
    await run(9600, 0.0, args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
