"""Emergency linkage latency: fire input changes on the simulated panel -> every egress
gate and light commanded (the write has reached the simulated device).

100 trials over Modbus TCP on loopback: 3 lighting controllers x 8 channels and 2 gate
controllers on one link, the panel polled every 100 ms. Reports p50/p99/max next to the
panel's poll interval (detection) and one bare pymodbus coil write measured in the same run.

    .venv/bin/python bench/emergency.py [--trials 100] [--poll 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymodbus.client import AsyncModbusTcpClient

from edge.automation.reconciler import Cause, Want
from sim.modbus import RegisterBank, SimUnit, serve_tcp
from tests.automation.rigs import emergency_rig, until


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def bare_write_ms(n: int = 200) -> float:
    async with serve_tcp([SimUnit(1, RegisterBank())]) as server:
        client = AsyncModbusTcpClient("127.0.0.1", port=server.port)
        await client.connect()
        t0 = time.perf_counter()
        for i in range(n):
            await client.write_coil(0, bool(i % 2), device_id=1)
        client.close()
        return (time.perf_counter() - t0) / n * 1000


async def main(trials: int, poll: float) -> None:
    lat: list[float] = []
    async with emergency_rig(panel_poll_s=poll) as rig:
        rig.reconciler.set_wanted(
            {
                o: Want(False, "default", Cause("default"))
                for o in rig.light_outputs + rig.gate_outputs
            }
        )
        await until(lambda: all(rig.points.get(o) is not None for o in rig.light_outputs))
        for _ in range(trials):
            await until(rig.all_released)
            await asyncio.sleep(poll * 1.5)  # start at a random phase of the panel's poll
            t0 = time.perf_counter()
            rig.panel.set_discrete(0, [True])
            await until(rig.all_commanded, step_s=0.0005)
            lat.append((time.perf_counter() - t0) * 1000)
            rig.panel.set_discrete(0, [False])
            await until(lambda: not rig.panel_in_alarm())
            rig.reset("bench")
    bare = await bare_write_ms()
    outputs = len(rig.light_outputs) + len(rig.gate_outputs)
    print(f"emergency linkage: {trials} trials, {outputs} outputs, panel poll {poll * 1000:.0f} ms")
    print(
        f"  fire input -> all outputs commanded: p50 {statistics.median(lat):.1f} ms, "
        f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms (goal p99 <= 500 ms)"
    )
    print(
        f"  bare pymodbus coil write, same run: {bare:.2f} ms "
        f"({outputs} writes = {outputs * bare:.1f} ms if sent back to back)"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--poll", type=float, default=0.1)
    a = ap.parse_args()
    asyncio.run(main(a.trials, a.poll))
