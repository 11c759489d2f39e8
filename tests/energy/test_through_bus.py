"""Meter readings through a simulated Modbus meter, the real bus and the point table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.modbus.bus import Bus
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.profiles import load_profile
from edge.clock import SystemClock
from edge.energy import EnergyConfig, EnergyService
from edge.field.points import PointTable
from edge.storage import Database
from sim.modbus import RegisterBank, SimUnit, serve_tcp

from .synthetic import WRAP_KWH, venue


@dataclass
class MeterRig:
    bank: RegisterBank
    unit: SimUnit
    svc: EnergyService

    def set_kwh(self, kwh: float) -> None:
        spec = load_profile("energy_meter").point("import_kwh")
        assert spec is not None
        self.bank.set_point(spec, round(kwh % WRAP_KWH, 1))


async def until(cond: object, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[MeterRig]:
    """`request.param`: the meter's reading before the bus starts (its first poll may come
    back before the test's first line)."""
    bank = RegisterBank()
    unit = SimUnit(10, bank)
    spec = load_profile("energy_meter").point("import_kwh")
    assert spec is not None
    bank.set_point(spec, round(request.param % WRAP_KWH, 1))
    clock = SystemClock()
    db = Database.open(tmp_path / "edge.db")
    # Registers jump instantly in the simulator: allow any power so no jump is "absurd".
    cfg = EnergyConfig(max_gap_s=0.6, max_kw=100_000)
    svc = EnergyService(venue({"m-c1": "court-1"}), cfg, db, clock)
    points = PointTable()
    points.subscribe(svc.on_event)
    dev = DeviceConfig(
        "m-c1", 10, load_profile("energy_meter"), poll_interval_s=0.05,
        timeout_s=0.2, probe_min_s=0.1, probe_max_s=0.2,
    )  # fmt: skip
    async with (
        serve_tcp([unit]) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev], clock=clock, on_event=points.publish),
    ):
        yield MeterRig(bank, unit, svc)
    db.close()


def cum(r: MeterRig) -> float:
    return float(r.svc.status()["m-c1"]["cum_kwh"])  # type: ignore[arg-type]


@pytest.mark.parametrize("rig", [WRAP_KWH - 0.5], indirect=True)
async def test_rollover_through_the_wire_is_counted_exactly(rig: MeterRig) -> None:
    """The uint32 register wraps on the simulated meter: energy keeps counting up."""
    await until(lambda: rig.svc.status()["m-c1"]["last_reading"] is not None)
    rig.set_kwh(WRAP_KWH - 0.2)
    await until(lambda: cum(rig) >= 0.29)
    rig.set_kwh(WRAP_KWH + 0.4)  # shows 0.4 after the wrap
    await until(lambda: cum(rig) >= 0.89)
    assert round(cum(rig), 1) == 0.9


@pytest.mark.parametrize("rig", [1000.0], indirect=True)
async def test_meter_offline_span_is_a_gap_not_zero(rig: MeterRig) -> None:
    """While the simulated meter is silent nothing is counted; on return the difference
    across the gap is counted and the span marked estimated."""
    await until(lambda: rig.svc.status()["m-c1"]["last_reading"] is not None)
    rig.unit.offline = True
    await asyncio.sleep(1.0)
    rig.set_kwh(1002.0)
    rig.unit.heal()
    await until(lambda: cum(rig) >= 1.99)
    curve = rig.svc._meters["m-c1"].curve
    assert "gap" in curve.why
    got = curve.energy(curve.times[0], curve.times[-1])
    assert got is not None and round(got[0], 1) == 2.0 and got[1] == {"gap"}
