"""A relay board nobody shipped a profile for: a technician writes one on site, and the
daemon lights a booked court through it. No code, only roles (docs/drivers.md, Point roles).

The board is a real Modbus TCP unit (sim.modbus) whose opto inputs follow its relays, as
when the inputs are wired to the relay contacts. The same board named as a hall's HVAC is
refused by `edgectl config check`, naming the role it lacks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.clock import SystemClock
from edge.daemon import Daemon
from edge.notify import Notifier
from edge.venue import load_venue
from sim.modbus import RegisterBank, SimUnit, serve_tcp
from tests.daemon.procs import edgectl
from tests.daemon.rig import book, until

RELAY_BOARD = """
# 4-channel Modbus relay board, written on site from the board's manual.
name = "relay4_site"
description = "4-relay board: relays on coils 0..3, opto inputs on discrete 0..3"
points = [
  { name = "relay1", table = "coil", address = 0, writable = true, roles = ["lighting.switch"], group = "r1" },
  { name = "relay2", table = "coil", address = 1, writable = true, roles = ["lighting.switch"], group = "r2" },
  { name = "relay3", table = "coil", address = 2, writable = true },
  { name = "relay4", table = "coil", address = 3, writable = true },
  { name = "input1", table = "discrete", address = 0, roles = ["lighting.feedback"], group = "r1" },
  { name = "input2", table = "discrete", address = 1, roles = ["lighting.feedback"], group = "r2" },
]
"""  # noqa: E501

VENUE = """
profile_dirs = ["{profiles}"]

[site]
id = "tech"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[[zones]]
id = "hall-b"
kind = "hall"
{hall_hvac}

[[zones]]
id = "court-b1"
kind = "court"
parent = "hall-b"
lights = ["relay-1.relay1", "relay-1.relay2"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port}

[[devices]]
id = "relay-1"
profile = "relay4_site"
bus = "tcp-1"
unit_id = 1
zone = "court-b1"
poll_interval = 0.2
"""


def write_venue(tmp: Path, port: int, hall_hvac: str = "") -> Path:
    profiles = tmp / "site-profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "relay4_site.toml").write_text(RELAY_BOARD)
    config = tmp / "venue.toml"
    config.write_text(VENUE.format(profiles=profiles, state=tmp / "state", run=tmp / "run",
                                   port=port, hall_hvac=hall_hvac))  # fmt: skip
    return config


async def test_a_technician_relay_board_lights_a_booked_court(tmp_path: Path) -> None:
    board = RegisterBank()

    @board.on_write
    def wired_inputs(table: str, address: int, values: list[int] | list[bool]) -> None:
        if table == "coil":  # the opto inputs see the relay contacts
            board.set_discrete(address, [bool(v) for v in values])

    async with serve_tcp([SimUnit(1, board)]) as server:
        config = write_venue(tmp_path, server.port)
        daemon = Daemon(config, load_venue(config), SystemClock(), Notifier(""))
        task = asyncio.create_task(daemon.run())
        try:
            await until(lambda: task.done() or "control" in daemon.supervisor.names, 30)
            assert not task.done() and daemon.stores is not None
            assert board.get_coils(0, 4) == [False] * 4
            await book(daemon.stores, zone="court-b1")
            await until(lambda: board.get_coils(0, 2) == [True, True], 20)
            assert board.get_coils(2, 2) == [False, False]  # no role: never touched
            stores = daemon.stores

            def feedback(ref: str) -> object:
                st = stores.points.get(ref)
                return None if st is None else st.value

            await until(lambda: feedback("relay-1.input1") is feedback("relay-1.input2") is True)
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 15) == 0


def test_the_board_as_a_halls_hvac_is_refused_naming_the_role(tmp_path: Path) -> None:
    config = write_venue(tmp_path, 1502, hall_hvac='hvac = ["relay-1"]')
    out = edgectl(None, "config", "check", str(config))
    assert out.returncode == 78, out.stdout + out.stderr
    assert "hvac.setpoint" in out.stderr and "relay-1" in out.stderr, out.stderr
    print("\n" + out.stderr.strip())
