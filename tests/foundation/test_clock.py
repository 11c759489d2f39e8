"""Simulated time and clock jumps make schedules re-evaluate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from edge.clock import JumpDetector, SimClock
from edge.scheduler import Scheduler

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


async def test_stepped_clock_wakes_sleepers_in_order() -> None:
    """advance() wakes each sleeper at its own instant, in deadline order."""
    clock = SimClock(T0)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper("b", 20)), asyncio.create_task(sleeper("a", 10))]
    await asyncio.sleep(0)
    await clock.advance(15)
    assert woke == [("a", T0 + timedelta(seconds=10))]
    await clock.advance(10)
    assert [n for n, _ in woke] == ["a", "b"]
    assert clock.now() == T0 + timedelta(seconds=25)
    await asyncio.gather(*tasks)


async def test_accelerated_clock_runs_faster() -> None:
    """At rate 600 a simulated minute takes a tenth of a second."""
    clock = SimClock(T0, rate=600)
    await clock.sleep(60)
    assert clock.now() - T0 >= timedelta(seconds=60)


def test_jump_detector() -> None:
    """A wall jump without monotonic movement is reported once, with its size."""
    clock = SimClock(T0)
    det = JumpDetector(clock, threshold_s=2)
    assert det.check() is None
    clock.jump(-3600)
    assert det.check() == -3600
    assert det.check() is None


async def test_scheduler_reevaluates_at_change_and_after_jump() -> None:
    """The evaluation runs at each next-change instant, and at once after a clock jump."""
    clock = SimClock(T0)
    calls: list[datetime] = []

    async def evaluate(now: datetime) -> datetime | None:
        calls.append(now)
        booking = T0 + timedelta(hours=9)  # e.g. a booking at 19:00
        return booking if now < booking else None

    sched = Scheduler(clock, evaluate, slice_s=1.0)
    task = asyncio.create_task(sched.run())
    await asyncio.sleep(0)
    assert len(calls) == 1
    await clock.advance(30)
    assert len(calls) == 1  # nothing due yet: no evaluation
    clock.jump(9 * 3600)  # NTP sync: wall time leaps to 19:00:30
    await clock.advance(1.5)
    assert len(calls) == 2 and sched.jumps_seen == 1
    assert calls[1] >= T0 + timedelta(hours=9)
    sched.poke()
    await asyncio.sleep(0.01)
    assert len(calls) == 3
    task.cancel()


async def test_scheduler_never_spins_on_a_past_instant() -> None:
    """An evaluation that returns a past instant is retried a slice later, not in a loop."""
    clock = SimClock(T0)
    calls: list[datetime] = []

    async def evaluate(now: datetime) -> datetime | None:
        calls.append(now)
        return T0

    task = asyncio.create_task(Scheduler(clock, evaluate, slice_s=1.0).run())
    await asyncio.sleep(0)
    await clock.advance(5.5)
    assert 5 <= len(calls) <= 7
    task.cancel()


async def test_scheduler_runs_at_next_change_instant() -> None:
    """With no jump the evaluation happens at the instant it asked for, within a second."""
    clock = SimClock(T0)
    calls: list[datetime] = []
    due = T0 + timedelta(minutes=5)

    async def evaluate(now: datetime) -> datetime | None:
        calls.append(now)
        return due if now < due else None

    task = asyncio.create_task(Scheduler(clock, evaluate).run())
    await asyncio.sleep(0)
    await clock.advance(301)
    assert len(calls) == 2
    assert timedelta(0) <= calls[1] - due < timedelta(seconds=1)
    task.cancel()
