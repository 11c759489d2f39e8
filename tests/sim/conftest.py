"""Fixtures for the simulator tests: a stepped clock, small configs, a running venue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from edge.clock import SimClock
from edge.config.load import load
from edge.config.model import VenueConfig
from edge.profiles import profile_points
from sim.params import SimParams
from sim.venue import SimVenue
from sim.world import World

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "examples" / "minimal.toml"
VENUE = ROOT / "examples" / "venue.toml"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# One device per bus kind: RTU on a pty (two units), RTU over TCP, TCP, and a reader line.
MIXED = """
[site]
id = "mixed"
gateway = "gw"
timezone = "Asia/Shanghai"

[[zones]]
id = "room"
kind = "room"
lights = ["lights-r.ch1_on"]
hvac = ["fcu-r"]

[[zones]]
id = "door"
kind = "gate"

[[buses]]
kind = "modbus_rtu"
id = "rtu"
port = "/dev/ttyUSB0"
baudrate = 115200

[[buses]]
kind = "modbus_rtu_tcp"
id = "gw"
host = "10.0.0.9"
port = 4001

[[buses]]
kind = "modbus_tcp"
id = "tcp"
host = "10.0.0.8"

[[buses]]
kind = "serial_line"
id = "qr"
port = "/dev/ttyUSB1"
role = "qr_scanner"
gate = "door"

[[devices]]
id = "lights-r"
profile = "lighting_8ch"
bus = "rtu"
unit_id = 7
zone = "room"

[[devices]]
id = "fcu-r"
profile = "hvac_fancoil"
bus = "rtu"
unit_id = 8
zone = "room"

[[devices]]
id = "fire"
profile = "fire_panel"
bus = "gw"
unit_id = 1

[[devices]]
id = "gate"
profile = "gate_controller"
bus = "tcp"
unit_id = 3
zone = "door"

[[devices]]
id = "meter"
profile = "energy_meter"
bus = "tcp"
unit_id = 4
zone = "room"
points = { import_kwh = { scale = 0.01 } }

[[access.gates]]
id = "door"
device = "gate"
"""


def evening() -> datetime:
    return datetime(2026, 7, 15, 18, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(evening())


@pytest.fixture
def minimal_config() -> VenueConfig:
    return load(MINIMAL, profile_points)


@pytest.fixture
def mixed_path(tmp_path: Path) -> Path:
    p = tmp_path / "mixed.toml"
    p.write_text(MIXED)
    return p


@pytest_asyncio.fixture
async def world(minimal_config: VenueConfig, clock: SimClock) -> AsyncIterator[World]:
    # Coarse ticks keep stepped tests fast; timers (pulses, watchdogs) still fire exactly.
    w = World(minimal_config, SimParams(tick_s=60.0), clock)
    async with w.running():
        yield w


@pytest_asyncio.fixture
async def mixed_venue(mixed_path: Path, clock: SimClock) -> AsyncIterator[SimVenue]:
    venue = SimVenue.from_config(mixed_path, clock)
    async with venue:
        yield venue
