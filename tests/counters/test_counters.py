"""Run hours and switch cycles: counted from observations, persisted, across restarts."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from drivers.modbus.bus import Bus
from drivers.modbus.events import DeviceStatus, PointUpdate, Quality, WriteResult
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.profiles import load_profile
from edge.automation.reconciler import Cause, Reconciler, Want, WriteRecord
from edge.clock import SimClock, SystemClock
from edge.config.model import Device, ModbusTcpBus, Site, VenueConfig
from edge.counters import Counters, CounterWorker, counted_outputs
from edge.field.points import PointTable
from edge.profiles import ProfileBook
from edge.roles import RoleMap
from edge.storage import Database
from sim.modbus import RegisterBank, SimUnit, serve_tcp

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
OUT = "lights-1.ch1_on"


def update(value: object, quality: Quality = Quality.GOOD) -> PointUpdate:
    return PointUpdate("lights-1", "ch1_on", value, quality, T0)  # type: ignore[arg-type]


async def test_cycles_and_run_hours_from_observations(tmp_path: Path) -> None:
    """Off->on counts one cycle; repeated reports of `on` add run time, not cycles."""
    clock = SimClock(T0)
    c = Counters(Database.open(tmp_path / "e.db"), clock, [OUT])
    c.on_event(update(False))
    c.on_event(update(True))
    await clock.advance(1800)
    c.on_event(update(True))  # a heartbeat
    await clock.advance(1800)
    c.on_event(update(False))
    await clock.advance(3600)
    c.on_event(update(True))
    await clock.advance(900)
    assert c.snapshot() == {OUT: {"run_hours": 1.25, "cycles": 2.0}}


async def test_unknown_state_stops_the_run_clock(tmp_path: Path) -> None:
    """While the device is offline its outputs' run time is not counted."""
    clock = SimClock(T0)
    c = Counters(Database.open(tmp_path / "e.db"), clock, [OUT])
    c.on_event(update(True))
    await clock.advance(600)
    c.on_event(DeviceStatus("lights-1", False, T0, "timeout"))
    await clock.advance(3000)
    c.on_event(update(True, Quality.GOOD))
    await clock.advance(600)
    assert c.snapshot()[OUT]["run_hours"] == 1200 / 3600
    assert c.snapshot()[OUT]["cycles"] == 0  # unknown -> on is not a switch we saw


async def test_write_records_count(tmp_path: Path) -> None:
    """The reconciler's read-back after a write is an observation like any other."""
    clock = SimClock(T0)
    c = Counters(Database.open(tmp_path / "e.db"), clock, [OUT, "hvac-1.on"])
    for value in (False, True, False, True):
        result = WriteResult("lights-1", "ch1_on", value, value, True, Quality.GOOD, T0)
        c.on_write(WriteRecord(OUT, Want(value, "booking", Cause("booking")), result, None, T0))
    failed = WriteRecord("hvac-1.on", Want(True, "booking", Cause("booking")), None, "timeout", T0)
    c.on_write(failed)
    assert c.snapshot() == {OUT: {"run_hours": 0.0, "cycles": 2.0}}


async def test_survives_restart_and_reset(tmp_path: Path) -> None:
    """Flushed counters load after a DB reopen and keep counting; reset starts from zero."""
    clock = SimClock(T0)
    db = Database.open(tmp_path / "e.db")
    c = Counters(db, clock, [OUT])
    await c.load()
    c.on_event(update(False))
    c.on_event(update(True))
    await clock.advance(7200)
    await c.flush()
    db.close()

    db2 = Database.open(tmp_path / "e.db")
    again = Counters(db2, clock, [OUT])
    await again.load()
    assert again.snapshot() == {OUT: {"run_hours": 2.0, "cycles": 1.0}}
    again.on_event(update(False))
    again.on_event(update(True))
    assert again.snapshot()[OUT]["cycles"] == 2.0
    again.reset(OUT)
    assert again.snapshot()[OUT] == {"run_hours": 0.0, "cycles": 0.0}
    db2.close()


async def no_writes(device: str, point: str, value: object) -> WriteResult:
    raise AssertionError("no writes in this test")


async def test_run_loop_batches_writes(tmp_path: Path) -> None:
    """Nothing hits the disk before `flush_s`; one batch after it; the rest at shutdown."""
    clock = SimClock(T0)
    db = Database.open(tmp_path / "e.db")
    c = Counters(db, clock, [OUT, "lights-1.ch2_on"])
    await c.load()
    points = PointTable()
    rec = Reconciler(clock, points, no_writes)
    ready = asyncio.Event()
    task = asyncio.create_task(CounterWorker(c, points, rec, clock, flush_s=60).run(ready.set))
    await ready.wait()
    c.on_event(update(False))
    c.on_event(update(True))

    def rows() -> list[tuple[str, int]]:
        with sqlite3.connect(tmp_path / "e.db") as conn:
            return conn.execute("SELECT output, cycles FROM counters").fetchall()

    assert rows() == []
    await clock.advance(61)
    for _ in range(100):
        if rows():
            break
        await asyncio.sleep(0.01)
    assert rows() == [(OUT, 1)]
    c.on_event(PointUpdate("lights-1", "ch2_on", True, Quality.GOOD, T0))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sorted(rows()) == [(OUT, 1), ("lights-1.ch2_on", 0)]
    db.close()


def test_counted_outputs_by_role() -> None:
    """Light channels, HVAC on/off and gate relays are counted; meters are not."""
    cfg = VenueConfig(
        site=Site(id="s", gateway="g"),
        buses=[ModbusTcpBus(id="b", host="h")],
        devices=[
            Device(id=d, profile=p, bus="b", unit_id=u)
            for u, (d, p) in enumerate(
                [("l", "lighting_8ch"), ("h", "hvac_fancoil"), ("g", "gate_controller"),
                 ("m", "energy_meter")], start=1,
            )
        ],
    )  # fmt: skip
    got = counted_outputs(RoleMap.of(cfg, ProfileBook()))
    assert got == ["g.relay", "h.on"] + [f"l.ch{n}_on" for n in range(1, 9)]


async def test_counts_reconciler_writes_and_panel_switching(tmp_path: Path) -> None:
    """Through the real bus: a reconciler write and a switch at the panel both count."""
    bank = RegisterBank()
    unit = SimUnit(1, bank)
    clock = SystemClock()
    points = PointTable()
    db = Database.open(tmp_path / "e.db")
    counters = Counters(db, clock, [OUT])
    points.subscribe(counters.on_event)
    dev = DeviceConfig("lights-1", 1, load_profile("lighting_8ch"), poll_interval_s=0.05)
    async with (
        serve_tcp([unit]) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev], clock=clock, on_event=points.publish) as bus,
    ):
        rec = Reconciler(clock, points, bus.write)
        rec.writes.subscribe(counters.on_write)
        task = asyncio.create_task(rec.run(lambda: None))
        try:
            await _until(lambda: OUT in counters.snapshot())
            rec.set_wanted({OUT: Want(True, "booking", Cause("booking", "b-1"))})
            await _until(lambda: counters.snapshot()[OUT]["cycles"] == 1)
            rec.set_wanted({})
            bank.set_coils(0, [False])  # someone at the panel
            await _until(lambda: counters.details()[OUT]["on"] is False)
            bank.set_coils(0, [True])
            await _until(lambda: counters.snapshot()[OUT]["cycles"] == 2)
        finally:
            task.cancel()
    db.close()


async def _until(cond: object, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
