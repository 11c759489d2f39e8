"""The simulated field of bench/bridge.py: N Modbus TCP units x 40 holding registers.

One pymodbus server (the project's simulator, `sim.modbus`) on one TCP port serves unit
ids 1..N, as a serial gateway or a Modbus TCP rack would: edged, modbus2mqtt and the
bare poller all poll one endpoint with devices by unit id. Every `--change-every`
seconds one random register of one random unit takes a new value, and the process logs
(wall clock) when each change happened and when each read was served. Changes and
reads run on one event loop, so "the first read after a change" is exact.

Every change writes the next value of a counter (1..65535, never the register's
current value), so a value names its change; a register that changed is left alone
for `--quiet-s` seconds, so every change stays visible to a poller slower than that.

Usage (bench/bridge.py starts it): python bench/bridge_field.py --devices 50 --port P
--out DIR. It prints one JSON line `{"port": P}` once it serves, runs until its stdin
closes, then writes DIR/changes.csv (t,device,register,value) and DIR/reads.csv
(t,device,table,address,count) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.modbus import RegisterBank, SimUnit, serve_tcp

Read = tuple[float, int, str, int, int]
Change = tuple[float, int, int, int]


class LoggedBank(RegisterBank):
    """A unit's memory that notes the wall-clock time of every read the master makes."""

    def __init__(self, unit: int, registers: int, reads: list[Read]) -> None:
        super().__init__(registers)
        self._unit = unit
        self._reads = reads

    def get(self, table: str, address: int, count: int = 1) -> list[int] | list[bool]:
        values = super().get(table, address, count)
        self._reads.append((time.time(), self._unit, table, address, count))
        return values


async def change_registers(
    banks: dict[int, LoggedBank],
    registers: int,
    every_s: float,
    quiet_s: float,
    rng: random.Random,
    changes: list[Change],
) -> None:
    """One register of one unit takes a new value every `every_s`, on a fixed rate."""
    last_change: dict[tuple[int, int], float] = {}
    counter = 0
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        now = loop.time()
        for _ in range(20):  # a register still in its quiet time: draw again
            key = (rng.randrange(1, len(banks) + 1), rng.randrange(registers))
            if now - last_change.get(key, -quiet_s) >= quiet_s:
                break
        else:
            key = None
        if key is not None:
            unit, reg = key
            counter = counter % 0xFFFF + 1
            banks[unit].set_holding(reg, [counter])
            changes.append((time.time(), unit, reg, counter))
            last_change[key] = now
        due += every_s
        await asyncio.sleep(max(0.0, due - loop.time()))


def write_logs(out: Path, changes: list[Change], reads: list[Read]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "changes.csv", "w", encoding="ascii") as f:
        f.write("t,device,register,value\n")
        f.writelines(f"{t:.6f},{d},{r},{v}\n" for t, d, r, v in changes)
    with open(out / "reads.csv", "w", encoding="ascii") as f:
        f.write("t,device,table,address,count\n")
        f.writelines(f"{t:.6f},{d},{tb},{a},{c}\n" for t, d, tb, a, c in reads)


async def serve(args: argparse.Namespace) -> None:
    reads: list[Read] = []
    changes: list[Change] = []
    banks = {u: LoggedBank(u, args.registers, reads) for u in range(1, args.devices + 1)}
    units = [SimUnit(u, bank) for u, bank in banks.items()]
    rng = random.Random(args.seed)
    try:
        async with serve_tcp(units, port=args.port) as server:
            print(json.dumps({"port": server.port}), flush=True)
            changer = asyncio.create_task(
                change_registers(
                    banks, args.registers, args.change_every, args.quiet_s, rng, changes
                )
            )
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.read)  # until the harness closes stdin
            changer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await changer
    finally:
        write_logs(Path(args.out), changes, reads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, required=True, help="unit ids 1..N (N <= 247)")
    p.add_argument("--registers", type=int, default=40)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--change-every", type=float, default=0.1, help="seconds between changes")
    p.add_argument("--quiet-s", type=float, default=5.0, help="a changed register rests this long")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="directory for changes.csv and reads.csv")
    args = p.parse_args()
    if not 1 <= args.devices <= 247:
        p.error("--devices must be 1..247 (Modbus unit ids)")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
