"""A running edged on simulated devices, for driving edgectl as a technician would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sim.modbus import RegisterBank, SimUnit, serve_tcp

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160"}

CONFIG = """
[site]
id = "cli-venue"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[alarms]
tick_s = 0.5
lamp_delay_s = 1.0
comm_lost_after_s = 1.0

[[zones]]
id = "hall-a"
kind = "hall"
hvac = ["hvac-a"]

[[zones]]
id = "court-5"
kind = "court"
parent = "hall-a"
lights = ["lights-a.ch5_on"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port}

[[devices]]
id = "lights-a"
profile = "lighting_8ch"
bus = "tcp-1"
unit_id = 1
zone = "court-5"
poll_interval = 0.2

[[devices]]
id = "hvac-a"
profile = "hvac_fancoil"
bus = "tcp-1"
unit_id = 2
zone = "hall-a"
poll_interval = 0.2

[[devices]]
id = "panel"
profile = "fire_panel"
bus = "tcp-1"
unit_id = 3
poll_interval = 0.2
"""


@dataclass
class Venue:
    run: Path
    config: Path
    lights: RegisterBank
    hvac: RegisterBank
    panel: RegisterBank
    proc: subprocess.Popen[bytes]

    def edgectl(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(self.run), *args],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _spawn(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.daemon", "--config", str(config), "--log-json"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_socket(run: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not (run / "edged.sock").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("edged did not start")
        time.sleep(0.05)


@asynccontextmanager
async def running_edged(
    tmp: Path, text: str
) -> AsyncIterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    """edged on `text` (a venue config with its links filled in): (run dir, config, process)."""
    run = tmp / "run"
    path = tmp / "venue.toml"
    path.write_text(text)
    proc = _spawn(path)
    try:
        await asyncio.to_thread(_wait_socket, run, proc)
        yield run, path, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 10)


@asynccontextmanager
async def running_venue(tmp: Path, config: str = CONFIG) -> AsyncIterator[Venue]:
    lights, hvac, panel = RegisterBank(), RegisterBank(), RegisterBank()
    lights.set_holding(100, [100] * 8)  # dim levels at 100 %, as a controller ships
    async with serve_tcp([SimUnit(1, lights), SimUnit(2, hvac), SimUnit(3, panel)]) as server:
        run = tmp / "run"
        path = tmp / "venue.toml"
        path.write_text(config.format(state=tmp / "state", run=run, port=server.port))
        proc = _spawn(path)
        try:
            await asyncio.to_thread(_wait_socket, run, proc)
            await asyncio.sleep(0.5)  # a few poll cycles
            yield Venue(run, path, lights, hvac, panel, proc)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 10)
