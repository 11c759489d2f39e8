"""edgectl's offline tools talk to devices directly, and refuse a bus the daemon owns."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

from sim.modbus import RegisterBank, SimUnit, serve_tcp
from tests.cli.venue import CONFIG, ENV, running_venue


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
        assert out.stderr == ""  # no pymodbus log lines for the silent ids
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
            "8",  # 1-based reference of protocol address 7
        )
        got = json.loads(out.stdout)
        assert got["values"] == [1234] and got["address"] == 7
        assert got["via"] == "direct" and "edged is not running" in got["note"]
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
            "--zero-based",
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


async def test_through_the_daemon_or_refused_direct(tmp_path: Path) -> None:
    """While edged polls a bus, a configured device's read goes through edged; opening
    the owned link directly is refused with the next step, and --direct allows it."""
    async with running_venue(tmp_path) as venue:
        base = ["--runtime-dir", str(venue.run), "modbus", "read"]
        out = await asyncio.to_thread(
            edgectl, *base, "--config", str(venue.config), "--device", "hvac-a", "--point",
            "setpoint",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "via edged" in out.stdout and "hvac-a.setpoint" in out.stdout
        port = re.search(r"port = (\d+)", venue.config.read_text())
        assert port is not None
        raw = [*base, "--tcp", f"127.0.0.1:{port[1]}", "--unit", "2", "--address", "2"]
        out = await asyncio.to_thread(edgectl, *raw)
        assert out.returncode == 1
        assert "edged is running and owns" in out.stderr and "--direct" in out.stderr
        out = await asyncio.to_thread(edgectl, "--json", *raw, "--direct")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["via"] == "direct"


async def test_falls_back_to_direct_when_edged_is_not_running(tmp_path: Path) -> None:
    """No edged: `--ref` with the config opens the link itself and says so."""
    hvac = RegisterBank()
    hvac.set_holding(1, [235])
    units = [SimUnit(1, RegisterBank()), SimUnit(2, hvac), SimUnit(3, RegisterBank())]
    async with serve_tcp(units) as server:
        config = tmp_path / "venue.toml"
        config.write_text(
            CONFIG.format(state=tmp_path / "state", run=tmp_path / "run", port=server.port)
        )
        args = ["--runtime-dir", str(tmp_path / "run"), "modbus", "read", "--config", str(config)]
        out = await asyncio.to_thread(edgectl, *args, "--ref", "hvac-a.setpoint")
        assert out.returncode == 0, out.stderr
        assert "edged is not running: opened the link directly" in out.stdout
        assert "23.5" in out.stdout
        out = await asyncio.to_thread(edgectl, "--json", *args, "--ref", "hvac-a.setpoint")
        assert json.loads(out.stdout)["value"] == 23.5


def test_gpio_on_a_machine_that_is_not_a_pi(tmp_path: Path) -> None:
    """The RPi backend off a Pi is a clear error, not a traceback; the simulated one works."""
    out = edgectl("--runtime-dir", str(tmp_path), "gpio", "read", "17")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "rpi" in out.stderr.lower()
    out = edgectl("--json", "gpio", "pulse", "17", "--for", "50ms", "--backend", "simulated")
    assert out.returncode == 0 and json.loads(out.stdout)["pulsed_s"] == 0.05
