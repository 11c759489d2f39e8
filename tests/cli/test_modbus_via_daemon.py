"""`edgectl modbus read/write` through a running edged's RTU bus (one master on the port).

The simulator serves two units on a socat pty pair at 19200 baud with wire timing;
edged owns the master end. edgectl's raw requests go to edged, which runs them
between its polls: the values are the simulator's, and the polls keep their period.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.cli.client import call
from sim.modbus import RegisterBank, SimServer, SimUnit, serve_rtu_pty
from tests.cli.venue import ENV, running_edged

POLL_S = 0.5

CONFIG = """
[site]
id = "rtu-venue"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

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
id = "rtu-1"
kind = "modbus_rtu"
port = "{port}"
baudrate = 19200
parity = "N"  # a pty carries no parity bit (Linux refuses even parity on one)

[[devices]]
id = "lights-a"
profile = "lighting_8ch"
bus = "rtu-1"
unit_id = 1
zone = "court-5"
poll_interval = {poll}

[[devices]]
id = "hvac-a"
profile = "hvac_fancoil"
bus = "rtu-1"
unit_id = 2
zone = "hall-a"
poll_interval = {poll}
"""


@dataclass
class RtuVenue:
    run: Path
    server: SimServer
    lights: RegisterBank
    hvac: RegisterBank

    def edgectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(self.run), *args],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=30,
        )

    async def json(self, *args: str) -> Any:
        out = await asyncio.to_thread(self.edgectl, "--json", *args)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[RtuVenue]:
    lights, hvac = RegisterBank(), RegisterBank()
    lights.set_holding(100, [100] * 8)
    hvac.set_holding(1, [215])  # setpoint 21.5 C
    units = [SimUnit(1, lights), SimUnit(2, hvac)]
    async with serve_rtu_pty(units, baudrate=19200, wire_time=True) as server:
        text = CONFIG.format(
            state=tmp_path / "state", run=tmp_path / "run", port=server.client_port, poll=POLL_S
        )
        async with running_edged(tmp_path, text) as (run, _, _):
            v = RtuVenue(run, server, lights, hvac)
            for _ in range(100):  # both devices answered at least twice
                status = await v.json("status")
                polls = status["buses"].get("rtu-1", {}).get("poll", {})
                if status["devices_online"] == 2 and all(p["cycles"] >= 3 for p in polls.values()):
                    break
                await asyncio.sleep(0.2)
            else:
                pytest.fail(f"edged did not poll the RTU bus: {status}")
            yield v


def _window(before: dict[str, Any], after: dict[str, Any]) -> float:
    """The mean period between two samples of one device's poll stats."""
    cycles = int(after["cycles"]) - int(before["cycles"])
    assert cycles >= 2, (before, after)
    elapsed = float(after["last_start_mono"]) - float(before["last_start_mono"])
    return elapsed / cycles


async def test_reads_through_the_daemon_keep_the_poll_period(venue: RtuVenue) -> None:
    """16 reads of live registers return the simulator's values, via edged; the polls of
    both devices keep their configured period (within 3 %) meanwhile."""
    before = (await venue.json("status"))["buses"]["rtu-1"]["poll"]
    for i in range(16):
        venue.hvac.set_holding(20, [1000 + i, 2000 + i])
        got = await venue.json(
            "modbus", "read", "--device", "hvac-a", "--address", "21", "--count", "2"
        )
        assert got["via"] == "edged" and got["link"].startswith("rtu:")
        assert got["address"] == 20 and got["reference"] == 21
        assert got["values"] == venue.hvac.get_holding(20, 2) == [1000 + i, 2000 + i]
    point = await venue.json("modbus", "read", "--ref", "hvac-a.setpoint")
    assert point["values"] == [215] and point["value"] == 21.5
    after = (await venue.json("status"))["buses"]["rtu-1"]["poll"]
    for device in ("hvac-a", "lights-a"):
        achieved = _window(before[device], after[device])
        print(f"{device}: configured {POLL_S} s, achieved {achieved:.4f} s during the reads")
        assert abs(achieved - POLL_S) / POLL_S < 0.03, (device, achieved)


async def test_human_output_and_one_based_addresses(venue: RtuVenue) -> None:
    """The table shows the 1-based reference beside the protocol address; --zero-based
    reads the same register; address 0 in 1-based terms is a usage error."""
    venue.lights.set_holding(100, [77])
    out = await asyncio.to_thread(
        venue.edgectl, "modbus", "read", "--device", "lights-a", "--address", "101"
    )
    assert out.returncode == 0, out.stderr
    assert "via edged" in out.stdout and "77" in out.stdout and "101" in out.stdout
    zero = await venue.json(
        "modbus", "read", "--device", "lights-a", "--address", "100", "--zero-based"
    )
    assert zero["values"] == [77]
    bad = await asyncio.to_thread(
        venue.edgectl, "modbus", "read", "--device", "lights-a", "--address", "0"
    )
    assert bad.returncode == 2 and "1-based" in bad.stderr
    # An exception reply is named as mbpoll names it.
    off = await asyncio.to_thread(
        venue.edgectl, "modbus", "read", "--device", "lights-a", "--address", "60000"
    )
    assert off.returncode == 1 and "Illegal data address" in off.stderr, off.stderr
    many = await asyncio.to_thread(
        venue.edgectl, "modbus", "read", "--device", "hvac-a", "--address", "1", "--count", "200"
    )
    assert many.returncode == 1 and "count 200 must be 1..125" in many.stderr, many.stderr
    nobody = await asyncio.to_thread(venue.edgectl, "modbus", "read", "--ref", "lights-b.ch1_on")
    assert nobody.returncode == 1 and "unknown device 'lights-b'" in nobody.stderr


async def test_raw_write_refused_on_a_controlled_output_then_forced_and_journaled(
    venue: RtuVenue,
) -> None:
    """Coil 5 of lights-a is court-5's light (the reconciler drives it): refused without
    --force, written with it; a free register is written at once; all three journaled."""
    # What reached the coil, write by write: the reconciler (which wants it off, nobody
    # booked) turns a forced write back at its next read-back, so the coil's state after
    # the command depends on timing; the writes do not.
    coil5: list[bool] = []

    @venue.lights.on_write
    def seen(table: str, address: int, values: list[int] | list[bool]) -> None:
        if table == "coil" and address <= 4 < address + len(values):
            coil5.append(bool(values[4 - address]))

    args = ["modbus", "write", "--device", "lights-a", "--table", "coil", "--address", "5", "1"]
    out = await asyncio.to_thread(venue.edgectl, *args)
    assert out.returncode == 1
    assert "lights-a.ch5_on" in out.stderr and "--force" in out.stderr
    assert venue.lights.get_coils(4, 1) == [False] and True not in coil5
    written = len(coil5)
    done = await venue.json(*args, "--force", "--reason", "relay test")
    assert done["written"] is True and done["forced_outputs"] == ["lights-a.ch5_on"]
    assert coil5[written : written + 1] == [True]  # the forced write reached the coil
    # By point: the profile encodes the value; the same refusal without --force.
    by_ref = ["modbus", "write", "--ref", "lights-a.ch5_on", "off"]
    out = await asyncio.to_thread(venue.edgectl, *by_ref)
    assert out.returncode == 1 and "--force" in out.stderr
    off = await venue.json(*by_ref, "--force")
    assert off["written"] is True and off["values"] == [0] and coil5[-1] is False
    free = await venue.json("modbus", "write", "--device", "hvac-a", "--address", "31", "4242")
    assert free["forced_outputs"] == [] and venue.hvac.get_holding(30, 1) == [4242]
    for _ in range(50):  # the journal commits in batches
        trail = await venue.json("journal", "--kind", "operation")
        raw = [e for e in trail if e["body"].get("op") == "modbus_write"]
        if len(raw) >= 5:
            break
        await asyncio.sleep(0.1)
    user = getpass.getuser()
    outcomes = sorted((e["subject"], e["body"]["ok"], e["body"]["force"]) for e in raw)
    assert outcomes == [
        ("hvac-a@31", True, False),
        ("lights-a@5", False, False),
        ("lights-a@5", False, False),
        ("lights-a@5", True, True),
        ("lights-a@5", True, True),
    ]
    assert all(e["actor"] == user and e["actor_kind"] == "technician" for e in raw)


async def test_a_burst_of_reads_keeps_the_poll_period(venue: RtuVenue) -> None:
    """200 back-to-back reads over the control socket (edgectl's client, no process start
    between them): the bus interleaves them with its polls, which stay within 3 %."""
    before = (await venue.json("status"))["buses"]["rtu-1"]["poll"]
    venue.hvac.set_holding(20, [7, 8, 9, 10])
    request = {"device": "hvac-a", "function": 3, "address": 20, "count": 4}
    started = time.monotonic()
    for _ in range(200):
        got = await asyncio.to_thread(call, venue.run, "modbus_read", request, 10.0)
        assert got["values"] == [7, 8, 9, 10]
    elapsed = time.monotonic() - started
    after = (await venue.json("status"))["buses"]["rtu-1"]["poll"]
    print(f"200 raw reads in {elapsed:.2f} s ({200 / elapsed:.0f}/s) on RTU 19200 baud")
    for device in ("hvac-a", "lights-a"):
        achieved = _window(before[device], after[device])
        worst = after[device]["worst_s"]
        print(f"{device}: configured {POLL_S} s, achieved {achieved:.4f} s, worst {worst} s")
        assert abs(achieved - POLL_S) / POLL_S < 0.03, (device, achieved)
