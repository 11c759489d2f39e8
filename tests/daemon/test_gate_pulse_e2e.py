"""Gate pulse length through the daemon, measured at the simulated gate controller.

The controller's profile has a pulse register (`gate.pulse`): edged writes the gate's
`pulse_s` there and switches the relay on once; the controller times the opening itself.
The door's open time is measured in real time at the simulated controller (the timed kind,
a plain relay timed by edged, is measured in tests/daemon/test_gpio_barrier_e2e.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.cli.client import call
from edge.clock import SimClock
from edge.daemon import Daemon
from edge.notify import Notifier
from edge.venue import load_venue
from sim.devices.gate import GateController
from sim.venue import SimVenue
from tests.simday import site_header

PULSE_S = 2.0

VENUE = """
[[zones]]
id = "court-1"
kind = "court"

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = 1502

[[devices]]
id = "gate-1"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 1
poll_interval = 0.2

[[access.gates]]
id = "court-door"
device = "gate-1"
zones = ["court-1"]
pulse_s = {pulse}
"""


async def test_register_pulse_measured_at_the_controller(tmp_path: Path) -> None:
    state, run = tmp_path / "state", tmp_path / "run"
    src = tmp_path / "venue.toml"
    src.write_text(site_header("pulse", state, run) + VENUE.format(pulse=PULSE_S))
    clock = SimClock(datetime(2026, 7, 15, 19, 0, tzinfo=ZoneInfo("Asia/Shanghai")), rate=1.0)
    async with SimVenue.from_config(src, clock, workdir=tmp_path / "sim") as venue:
        gate = venue.world.devices["gate-1"]
        assert isinstance(gate, GateController)
        v = load_venue(venue.runtime_config_path)
        run = Path(v.config.storage.runtime_dir)  # the runtime copy's
        daemon = Daemon(venue.runtime_config_path, v, clock, Notifier(""))
        task = asyncio.create_task(daemon.run())
        try:
            deadline = time.monotonic() + 30
            while not (task.done() or "control" in daemon.supervisor.names):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            assert not task.done()
            lengths: list[float] = []
            for _ in range(3):
                await asyncio.to_thread(call, run, "gate_open", {"gate": "court-door"}, 10.0)
                while not gate.door_open:
                    assert time.monotonic() < deadline + 30
                    await asyncio.sleep(0.002)
                opened = time.monotonic()
                while gate.door_open:
                    assert time.monotonic() < deadline + 30
                    await asyncio.sleep(0.002)
                lengths.append(time.monotonic() - opened)
            print(f"\nregister pulse, door open at the controller: "
                  f"{', '.join(f'{x:.3f}' for x in lengths)} s for pulse_s {PULSE_S}")  # fmt: skip
            assert [p.pulse_s for p in gate.pulses] == [PULSE_S] * 3  # the register edged wrote
            # The controller times it: the register is exact; the door's open time is
            # printed (a loaded machine delays the test's own sampling, not the door).
            assert all(abs(x - PULSE_S) <= 0.5 for x in lengths)
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
