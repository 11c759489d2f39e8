"""A reload replaces only the buses whose config changed; healthy connections stay up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from edge.cli.client import call
from sim.modbus import RegisterBank, SimUnit, serve_tcp

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[site]
id = "reload"
gateway = "gw-1"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[[buses]]
id = "tcp-a"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port_a}

[[buses]]
id = "tcp-b"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port_b}

[[devices]]
id = "lights-a"
profile = "lighting_8ch"
bus = "tcp-a"
unit_id = 1
poll_interval = {poll_a}

[[devices]]
id = "lights-b"
profile = "lighting_8ch"
bus = "tcp-b"
unit_id = 1
"""


def spawn(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.daemon", "--config", str(cfg), "--log-json"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_reload_keeps_unchanged_bus(tmp_path: Path) -> None:
    """Changing bus A's device restarts bus A only; bus B keeps its connection."""
    async with (
        serve_tcp([SimUnit(1, RegisterBank())]) as a,
        serve_tcp([SimUnit(1, RegisterBank())]) as b,
    ):
        run = tmp_path / "run"
        cfg = tmp_path / "venue.toml"
        text = CONFIG.format(
            state=tmp_path / "state", run=run, port_a=a.port, port_b=b.port, poll_a=1.0
        )
        cfg.write_text(text)
        proc = spawn(cfg)
        try:
            for _ in range(200):
                if (run / "edged.sock").exists():
                    break
                await asyncio.sleep(0.05)
            before = await asyncio.to_thread(call, run, "status")
            cfg.write_text(text.replace("poll_interval = 1.0", "poll_interval = 0.5"))
            assert (await asyncio.to_thread(call, run, "reload"))["reloaded"] is True
            after = await asyncio.to_thread(call, run, "status")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    comps_before, comps_after = before["components"], after["components"]
    assert comps_after["bus:tcp-b"]["started_at"] == comps_before["bus:tcp-b"]["started_at"]
    assert comps_after["bus:tcp-a"]["started_at"] > comps_before["bus:tcp-a"]["started_at"]
    assert after["buses"]["tcp-b"]["reconnects"] == before["buses"]["tcp-b"]["reconnects"]
    assert after["buses"]["tcp-b"]["transactions"] >= before["buses"]["tcp-b"]["transactions"]
