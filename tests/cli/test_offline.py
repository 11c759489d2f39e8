"""edgectl's offline tools talk to devices directly, and refuse a bus the daemon owns."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from sim.modbus import RegisterBank, SimUnit, serve_tcp
from tests.cli.venue import ENV, running_venue


def edgectl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli.main", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_scan_read_write(tmp_path: Path) -> None:
    """scan finds exactly the units present; raw read and verified write work over TCP."""
    bank = RegisterBank()
    bank.set_holding(7, [1234])
    async with serve_tcp([SimUnit(2, RegisterBank()), SimUnit(5, bank)]) as server:
        tcp = f"127.0.0.1:{server.port}"
        out = await asyncio.to_thread(
            edgectl,
            "--runtime-dir",
            str(tmp_path),
            "--json",
            "modbus",
            "scan",
            "--tcp",
            tcp,
            "--from",
            "1",
            "--to",
            "6",
        )
        assert out.returncode == 0, out.stderr
        assert [h["unit_id"] for h in json.loads(out.stdout)] == [2, 5]
        out = await asyncio.to_thread(
            edgectl,
            "--runtime-dir",
            str(tmp_path),
            "--json",
            "modbus",
            "read",
            "--tcp",
            tcp,
            "--unit",
            "5",
            "--table",
            "holding",
            "--address",
            "7",
        )
        assert json.loads(out.stdout)["values"] == [1234]
        out = await asyncio.to_thread(
            edgectl,
            "--runtime-dir",
            str(tmp_path),
            "--json",
            "modbus",
            "write",
            "--tcp",
            tcp,
            "--unit",
            "5",
            "--table",
            "holding",
            "--address",
            "8",
            "321",
        )
        assert json.loads(out.stdout)["verified"] is True
        assert bank.get_holding(8, 1) == [321]
        out = await asyncio.to_thread(
            edgectl,
            "--runtime-dir",
            str(tmp_path),
            "modbus",
            "read",
            "--tcp",
            "nohost",
            "--unit",
            "5",
            "--table",
            "holding",
            "--address",
            "7",
        )
        assert out.returncode == 1 and "HOST:PORT" in out.stderr


async def test_refuses_bus_owned_by_daemon(tmp_path: Path) -> None:
    """While edged polls a bus, direct access is refused with the next step; --force allows it."""
    async with running_venue(tmp_path) as venue:
        args = [
            "--runtime-dir",
            str(venue.run),
            "modbus",
            "read",
            "--config",
            str(venue.config),
            "--device",
            "hvac-a",
            "--point",
            "setpoint",
        ]
        out = await asyncio.to_thread(edgectl, *args)
        assert out.returncode == 1
        assert "edged is running and owns" in out.stderr and "--force" in out.stderr
        out = await asyncio.to_thread(edgectl, "--json", *args, "--force")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["point"] == "setpoint"


def test_gpio_on_a_machine_that_is_not_a_pi(tmp_path: Path) -> None:
    """The RPi backend off a Pi is a clear error, not a traceback; the simulated one works."""
    out = edgectl("--runtime-dir", str(tmp_path), "gpio", "read", "17")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "rpi" in out.stderr.lower()
    out = edgectl("--json", "gpio", "pulse", "17", "--for", "50ms", "--backend", "simulated")
    assert out.returncode == 0 and json.loads(out.stdout)["pulsed_s"] == 0.05
