"""Many simulated TCP units in a separate process, for benchmarks.

`python -m sim.modbus.farm DEVICES REGISTERS` serves DEVICES Modbus TCP servers (one
unit each, holding and input registers 0..REGISTERS-1 filled with a pattern) and
prints their ports as one JSON line; it exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path

from .bank import RegisterBank
from .server import SimServer, serve_tcp
from .unit import SimUnit


def pattern(device: int, address: int) -> int:
    return (device * 1000 + address) & 0xFFFF


async def _serve(devices: int, registers: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        servers: list[SimServer] = []
        for d in range(devices):
            bank = RegisterBank(max(registers, 16))
            values = [pattern(d, a) for a in range(registers)]
            bank.set_holding(0, values)
            bank.set_input(0, values)
            servers.append(await stack.enter_async_context(serve_tcp(SimUnit(1, bank))))
        print(json.dumps([s.port for s in servers]), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def start_farm(devices: int, registers: int) -> tuple[subprocess.Popen[str], list[int]]:
    """Start the farm process; returns it and the ports (stop with `stop_farm`)."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.modbus.farm", str(devices), str(registers)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("simulator farm did not start")
    return proc, [int(p) for p in json.loads(line)]


def stop_farm(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), int(sys.argv[2])))
