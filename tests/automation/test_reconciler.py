"""The reconciler writes only what differs from the read-back, once, and re-asserts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from drivers.modbus.bus import Bus
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.profiles import load_profile
from edge.automation.reconciler import Cause, Reconciler, Want
from edge.clock import SystemClock
from edge.field.points import PointTable
from sim.modbus import RegisterBank, SimUnit, serve_tcp


@dataclass
class Rig:
    bank: RegisterBank
    unit: SimUnit
    points: PointTable
    rec: Reconciler
    bus: Bus


async def until(cond: object, timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """`request.param` (optional): coils set before the bus starts, {address: values}
    (its first poll may come back before the test's first line)."""
    bank = RegisterBank()
    for address, values in getattr(request, "param", {}).items():
        bank.set_coils(address, values)
    unit = SimUnit(1, bank)
    profile = load_profile("lighting_8ch")
    async with serve_tcp([unit]) as server:
        dev = DeviceConfig(
            "lights-a",
            1,
            profile,
            poll_interval_s=0.1,
            timeout_s=0.3,
            probe_min_s=0.2,
            probe_max_s=0.5,
        )
        points = PointTable()
        clock = SystemClock()
        async with Bus(
            TcpLink("127.0.0.1", server.port), [dev], clock=clock, on_event=points.publish
        ) as bus:
            rec = Reconciler(clock, points, bus.write)
            task = asyncio.create_task(rec.run(lambda: None))
            yield Rig(bank, unit, points, rec, bus)
            task.cancel()


async def test_writes_once_and_holds(rig: Rig) -> None:
    """A wanted value different from the read-back is written once and then left alone."""
    await until(lambda: rig.points.get("lights-a.ch3_on") is not None)
    rig.rec.set_wanted({"lights-a.ch3_on": Want(True, "booking", Cause("booking", "b-1"))})
    await until(lambda: rig.bank.get_coils(2, 1) == [True])
    await asyncio.sleep(0.5)  # several poll cycles
    rig.rec.set_wanted({"lights-a.ch3_on": Want(True, "booking", Cause("booking", "b-1"))})
    await asyncio.sleep(0.3)
    assert rig.rec.stats.per_output == {"lights-a.ch3_on": 1}


@pytest.mark.parametrize("rig", [{2: [True]}], indirect=True)
async def test_nothing_written_when_already_right(rig: Rig) -> None:
    """A restart that finds outputs already right writes nothing."""
    rig.rec.set_wanted(
        {
            "lights-a.ch3_on": Want(True, "booking", Cause("booking")),
            "lights-a.ch4_on": Want(False, "default", Cause("default")),
        }
    )
    await until(lambda: rig.points.get("lights-a.ch4_on") is not None)
    await asyncio.sleep(0.4)
    assert rig.rec.stats.writes == 0


async def test_reasserts_after_device_returns(rig: Rig) -> None:
    """Switched off behind our back while offline: corrected once the device answers again."""
    rig.rec.set_wanted({"lights-a.ch1_on": Want(True, "schedule", Cause("schedule"))})
    await until(lambda: rig.bank.get_coils(0, 1) == [True])
    rig.unit.offline = True
    await until(lambda: rig.bus.device_online("lights-a") is False)
    rig.bank.set_coils(0, [False])  # someone at the panel
    await asyncio.sleep(0.3)
    assert rig.rec.stats.writes == 1  # no writes into a dead device
    rig.unit.heal()
    # The coil flips when the write lands; the write counts once its read-back is in.
    await until(
        lambda: (
            rig.bank.get_coils(0, 1) == [True] and rig.rec.stats.per_output["lights-a.ch1_on"] >= 2
        )
    )
    assert rig.rec.stats.per_output["lights-a.ch1_on"] == 2


async def test_failed_write_retried_with_backoff(rig: Rig) -> None:
    """A device that refuses a write gets it again later, not in a tight loop."""
    await until(lambda: rig.points.get("lights-a.ch2_dim") is not None)
    rig.unit.exception_code = 4
    rig.rec.set_wanted({"lights-a.ch2_dim": Want(80, "booking", Cause("booking"))})
    await asyncio.sleep(1.5)
    failures = rig.rec.stats.failures
    assert 1 <= failures <= 3
    rig.unit.heal()
    await until(lambda: rig.bank.get_holding(101, 1) == [80], timeout_s=8)


async def test_life_safety_wins_and_releases(rig: Rig) -> None:
    """The emergency table beats the rules' value; clearing it returns to the rules' value."""
    rig.rec.set_wanted({"lights-a.ch5_on": Want(False, "default", Cause("default"))})
    await until(lambda: rig.points.get("lights-a.ch5_on") is not None)
    rig.rec.set_life_safety(
        {"lights-a.ch5_on": Want(True, "life_safety", Cause("life_safety", "fire-panel"))}
    )
    await until(lambda: rig.bank.get_coils(4, 1) == [True])
    rig.rec.set_life_safety({})
    await until(lambda: rig.bank.get_coils(4, 1) == [False])


async def test_an_enum_wanted_by_number_is_written_once() -> None:
    """A rule wants `fan_speed = 3`; the fan-coil reads back "high". That is the same value:
    one write, then nothing (no rewrite storm), and a label want compares as text."""
    from edge.profiles import enum_labels

    bank = RegisterBank()
    labels = enum_labels([("fcu", "hvac_fancoil", {})])
    assert labels["fcu.fan_speed"]["3"] == "high"

    async with serve_tcp([SimUnit(1, bank)]) as server:
        dev = DeviceConfig("fcu", 1, load_profile("hvac_fancoil"), poll_interval_s=0.1)
        points = PointTable()
        clock = SystemClock()
        async with Bus(
            TcpLink("127.0.0.1", server.port), [dev], clock=clock, on_event=points.publish
        ) as bus:
            rec = Reconciler(clock, points, bus.write)
            task = asyncio.create_task(rec.run(lambda: None))
            await until(lambda: points.get("fcu.fan_speed") is not None)
            expect = labels["fcu.fan_speed"]["3"]  # as the automation computes it
            rec.set_wanted(
                {"fcu.fan_speed": Want(3, "event", Cause("event", "co2-high"), expect=expect)}
            )
            await until(lambda: bank.get_holding(2, 1) == [3])
            await asyncio.sleep(0.5)  # several polls read back "high"
            assert rec.stats.per_output == {"fcu.fan_speed": 1}
            rec.set_wanted({"fcu.fan_speed": Want("high", "manual", Cause("manual", "tech"))})
            await asyncio.sleep(0.3)
            assert rec.stats.per_output == {"fcu.fan_speed": 1}
            task.cancel()
