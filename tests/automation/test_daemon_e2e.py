"""edged end to end on a fast clock: a booking turns a court on, a restart rewrites nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.modbus.profiles import load_profile
from edge.bookings.store import BookingStore
from edge.storage import Database
from rules.model import Booking
from sim.modbus import RegisterBank, SimUnit, serve_tcp

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 21, tzinfo=TZ)

CONFIG = """
[site]
id = "e2e"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[[zones]]
id = "court-3"
kind = "court"
lights = ["lights-1.ch3_on"]
hvac = ["hvac-1"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port}
timeout = 0.5

[[devices]]
id = "lights-1"
profile = "lighting_8ch"
bus = "tcp-1"
unit_id = 1
zone = "court-3"
poll_interval = 0.2

[[devices]]
id = "hvac-1"
profile = "hvac_fancoil"
bus = "tcp-1"
unit_id = 2
zone = "court-3"
poll_interval = 0.2
"""


def edgectl(run: Path, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(run), "--json", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def start(config: Path, at: datetime, rate: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.daemon",
            "--config",
            str(config),
            "--log-json",
            "--sim-start",
            at.isoformat(),
            "--sim-rate",
            str(rate),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def wait_for(cond: object, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def seed_booking(state: Path) -> None:
    db = Database.open(state / "edged.db")
    store = await BookingStore.open(db)
    booking = Booking(
        booking_id="b-1",
        zone="court-3",
        start=DAY.replace(hour=19),
        end=DAY.replace(hour=21),
        member="m-42",
        version=1,
    )
    await store.replace_all(1, [booking])
    db.close()


async def test_booking_drives_outputs_and_restart_rewrites_nothing(tmp_path: Path) -> None:
    """Lights on 5 min before the booking; a kill -9 and restart at 19:00:30 writes nothing."""
    lights, hvac = RegisterBank(), RegisterBank()
    hvac.set_point(load_profile("hvac_fancoil").point("room_temp"), 29.0)  # type: ignore[arg-type]
    async with serve_tcp([SimUnit(1, lights), SimUnit(2, hvac)]) as server:
        state, run = tmp_path / "state", tmp_path / "run"
        state.mkdir()
        config = tmp_path / "venue.toml"
        config.write_text(CONFIG.format(state=state, run=run, port=server.port))
        await seed_booking(state)

        proc = start(config, DAY.replace(hour=18, minute=53), rate=60)
        try:
            # 18:55 is two simulated minutes away: two real seconds at 60x.
            await wait_for(lambda: lights.get_coils(2, 1) == [True], timeout_s=20)
            await wait_for(lambda: hvac.get_coils(0, 1) == [True], timeout_s=10)
            sp = hvac.get_point(load_profile("hvac_fancoil").point("setpoint"))  # type: ignore[arg-type]
            assert sp == 25.0
            why = await asyncio.to_thread(edgectl, run, "explain", "lights-1.ch3_on")
            assert why["level"] == "booking" and why["cause"] == "booking:b-1"
            assert why["value"] is True
            trail = await asyncio.to_thread(edgectl, run, "journal", "--zone", "court-3")
            lights_on = [e for e in trail if e["subject"] == "lights-1.ch3_on"]  # type: ignore[index]
            assert lights_on[0]["booking"] == "b-1"  # type: ignore[index]
            assert lights_on[0]["body"]["level"] == "booking"  # type: ignore[index]
            assert lights_on[0]["body"]["read_back"] is True  # type: ignore[index]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

        proc = start(config, DAY.replace(hour=19, minute=0, second=30), rate=1)
        try:
            await wait_for(lambda: run.joinpath("edged.sock").exists(), timeout_s=20)
            await asyncio.sleep(2.0)  # several poll cycles and evaluations
            status = await asyncio.to_thread(edgectl, run, "status")
            assert status["writes"] == {"total": 0, "failed": 0}
            assert lights.get_coils(2, 1) == [True]
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, out[-2000:]
