"""The energy component: bad readings, resets, and a restart in the middle of things."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drivers.modbus.events import PointUpdate, Quality
from edge.clock import SimClock
from edge.energy import BookingEnergy, EnergyConfig, EnergyInterval, EnergyService
from edge.energy.intervals import floor_interval
from edge.energy.windows import fixed_window
from edge.storage import Database

from .synthetic import DAY, B, at, venue

METERS = {"m-c1": "court-1"}
Record = EnergyInterval | BookingEnergy


def make(tmp_path: Path, clock: SimClock, bookings: list[B] | None = None) -> EnergyService:
    db = Database.open(tmp_path / "edge.db")
    return EnergyService(
        venue(METERS), EnergyConfig(), db, clock,
        bookings=(lambda: bookings or []), window=fixed_window(timedelta(0)),
    )  # fmt: skip


def feed(svc: EnergyService, start: datetime, minutes: int, kwh0: float, kw: float) -> float:
    """Readings every 10 s at constant power; returns the last counter value."""
    value = kwh0
    for k in range(minutes * 6 + 1):
        value = round(kwh0 + kw * k * 10 / 3600, 1)
        svc.reading("m-c1", start + timedelta(seconds=10 * k), value)
    return value


def meter_intervals(out: list[Record]) -> list[EnergyInterval]:
    return [r for r in out if isinstance(r, EnergyInterval) and r.kind == "meter"]


async def test_nan_and_stale_readings_are_ignored(tmp_path: Path) -> None:
    """NaN is rejected with a reason; a non-good quality reading carries no information."""
    clock = SimClock(DAY)
    svc = make(tmp_path, clock)
    svc.on_event(PointUpdate("m-c1", "import_kwh", 10.0, Quality.GOOD, DAY))
    svc.on_event(PointUpdate("m-c1", "import_kwh", math.nan, Quality.GOOD, at(0, 1)))
    svc.on_event(PointUpdate("m-c1", "import_kwh", 0.0, Quality.STALE, at(0, 2)))
    status = svc.status()["m-c1"]
    assert status["rejected"] == 1 and status["last_reject"] == "NaN"
    assert status["cum_kwh"] == 0.0


async def test_reset_marks_its_interval_estimated(tmp_path: Path) -> None:
    """A meter reset mid-interval: that interval is estimated (reset), the others measured."""
    clock = SimClock(DAY)
    svc = make(tmp_path, clock)
    out: list[Record] = []
    svc.subscribe(out.append)
    feed(svc, DAY, 20, 800.0, 12.0)
    feed(svc, DAY + timedelta(minutes=20, seconds=10), 25, 0.0, 12.0)
    svc.process()
    got = meter_intervals(out)
    assert [(i.start, i.estimated, i.reasons) for i in got] == [
        (DAY, False, []),
        (at(0, 15), True, ["reset"]),
        (at(0, 30), False, []),
    ]
    assert all(math.isclose(i.kwh, 3.0, abs_tol=0.15) for i in got)


async def test_restart_keeps_counter_and_fills_the_gap(tmp_path: Path) -> None:
    """Across a restart (DB reopened) the counter continues, the gap is interpolated and
    marked estimated, and a booking already reported is not reported twice."""
    clock = SimClock(DAY)
    booking = [B("b1", "court-1", at(0, 10), at(0, 40))]
    svc = make(tmp_path, clock, booking)
    out: list[Record] = []
    svc.subscribe(out.append)
    await svc.load()
    last = feed(svc, DAY, 60, 100.0, 6.0)
    clock.jump(3600)
    svc.process()
    await svc.flush()
    assert [r.booking_id for r in out if isinstance(r, BookingEnergy)] == ["b1"]
    svc._db.close()

    clock.jump(1800)
    again = make(tmp_path, clock, booking)
    out2: list[Record] = []
    again.subscribe(out2.append)
    await again.load()
    feed(again, at(1, 30), 30, last + 3.0, 6.0)
    clock.jump(1800)
    again.process()
    got = meter_intervals(out2)
    assert [i.start for i in got] == [at(1), at(1, 15), at(1, 30), at(1, 45)]
    assert [i.estimated for i in got] == [True, True, False, False]
    assert all(math.isclose(i.kwh, 1.5, abs_tol=0.15) for i in got)  # 6 kW x 15 min
    assert not any(isinstance(r, BookingEnergy) for r in out2)
    again._db.close()


def test_intervals_align_to_local_wall_clock() -> None:
    """In Kathmandu (+05:45) a quarter-hour starts at local :00/:15/:30/:45."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Kathmandu")
    t = datetime(2026, 11, 21, 6, 20, tzinfo=UTC)  # 12:05 local
    start = floor_interval(t, 15, tz)
    assert start.astimezone(tz).strftime("%H:%M") == "12:00"


async def test_component_runs_publishes_and_persists(tmp_path: Path) -> None:
    """As a component: fed by the point table, intervals come out on the tick and are in
    the database after shutdown."""
    import asyncio
    import sqlite3

    from edge.field.points import PointTable

    clock = SimClock(DAY)
    points = PointTable()
    db = Database.open(tmp_path / "edge.db")
    svc = EnergyService(venue(METERS), EnergyConfig(), db, clock, points=points)
    out: list[Record] = []
    svc.subscribe(out.append)
    ready = asyncio.Event()
    task = asyncio.create_task(svc.run(ready.set))
    await ready.wait()
    for k in range(0, 20 * 60 + 1, 10):
        ts = DAY + timedelta(seconds=k)
        points.publish(
            PointUpdate("m-c1", "import_kwh", round(50 + k * 0.002, 1), Quality.GOOD, ts)
        )
        await clock.advance_to(ts)
    for _ in range(200):  # DB work runs in real time: step on until the tick has run
        await clock.advance(5)
        if meter_intervals(out):
            break
        await asyncio.sleep(0.01)
    got = meter_intervals(out)
    assert [i.start for i in got] == [DAY]
    assert math.isclose(got[0].kwh, 1.8, abs_tol=0.1)  # 7.2 kW for 15 min
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        rows = conn.execute("SELECT kind, subject, kwh FROM energy_intervals").fetchall()
    assert sorted(r[:2] for r in rows) == [("meter", "m-c1"), ("zone", "court-1")]
    db.close()
