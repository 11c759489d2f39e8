"""Outbox: durability, drain order, eviction policy, seq persistence (real SQLite files)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from edge.clock import SimClock
from edge.storage import Database
from edge.uplink import AlarmBody, EnergyBody, EventBody, PointValue, StateBody
from edge.uplink.config import OutboxConfig
from edge.uplink.contract import State
from edge.uplink.outbox import Outbox

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def state(i: int) -> StateBody:
    return StateBody(points=[PointValue(point="dev.p", value=i)])


async def drain_all(box: Outbox) -> list[tuple[str, int]]:
    got: list[tuple[str, int]] = []
    while box.depth:
        row = await asyncio.wait_for(box.next(), 2)
        got.append((row.stream, row.seq))
        box.ack(row)
        await box.flush()
    return got


async def test_put_returns_after_commit_and_survives_reopen(tmp_path: Path) -> None:
    """A message whose put() returned is on disk: a fresh connection sees it."""
    db = Database.open(tmp_path / "a.db")
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        enq = await box.put(EventBody(kind="door_forced"))
        conn = sqlite3.connect(tmp_path / "a.db")
        rows = conn.execute("SELECT stream, seq, msg_id FROM outbox").fetchall()
        conn.close()
        assert rows == [("event", 1, enq.msg_id)]
    db.close()
    db = Database.open(tmp_path / "a.db")
    async with Outbox(db, clock) as box:
        assert box.depth == 1
        row = await box.next()
        assert (row.stream, row.seq, row.msg_id) == ("event", 1, enq.msg_id)
        nxt = await box.put(EventBody(kind="x"))
        assert nxt.seq == 2  # seq persisted, never reused
    db.close()


async def test_drain_order_alarm_event_energy_state_and_fifo_within(tmp_path: Path) -> None:
    """Alarms first, then events, energy, state; enqueue order kept within each stream."""
    db = Database.open(tmp_path / "a.db")
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        box.put_nowait(state(1))
        box.put_nowait(EnergyBody(kind="interval", meter="m1", start=T0, end=T0, kwh=1.0))
        box.put_nowait(state(2))
        box.put_nowait(EventBody(kind="a"))
        box.put_nowait(AlarmBody(alarm_id="x", action="raise"))
        box.put_nowait(EventBody(kind="b"))
        await box.flush()
        order = await drain_all(box)
    db.close()
    assert order == [
        ("alarm", 1),
        ("event", 1),
        ("event", 2),
        ("energy", 1),
        ("state", 1),
        ("state", 2),
    ]


async def test_urgent_alarm_overtakes_prefetched_state(tmp_path: Path) -> None:
    """An alarm committed while state rows are prefetched is the very next row."""
    db = Database.open(tmp_path / "a.db")
    async with Outbox(db, SimClock(T0)) as box:
        for i in range(1000):
            box.put_nowait(state(i))
        await box.flush()
        first = await box.next()
        assert first.stream == "state"
        await box.put(AlarmBody(alarm_id="fire", action="raise"))
        second = await box.next()
        third = await box.next()
    db.close()
    assert second.stream == "alarm"
    assert (third.stream, third.seq) == ("state", 2)


async def test_eviction_drops_oldest_state_never_alarms_access_or_energy(tmp_path: Path) -> None:
    """Over max_messages: oldest state goes first, then plain events; a report is queued."""
    db = Database.open(tmp_path / "a.db")
    cfg = OutboxConfig(max_messages=10)
    clock = SimClock(T0)
    async with Outbox(db, clock, cfg) as box:
        await box.put(AlarmBody(alarm_id="a", action="raise"))
        await box.put(EventBody(kind="access_decision"))
        await box.put(EnergyBody(kind="interval", meter="m", start=T0, end=T0, kwh=0.5))
        await box.put(EventBody(kind="rule_action"))
        for i in range(20):
            await box.put(state(i))
        by_stream = await box.depth_by_stream()
        await clock.advance(61)  # reports are at most once a minute: the rest come now
        await box.flush()
        rows = []
        while box.depth:
            row = await box.next()
            rows.append(row)
            box.ack(row)
            await box.flush()
        unreported = box.unreported_evictions
    db.close()
    kinds = {r.stream for r in rows}
    assert {"alarm", "energy"} <= kinds
    events = [msgspec.json.decode(r.payload) for r in rows if r.stream == "event"]
    overflow = [e for e in events if e["kind"] == "buffer_overflow"]
    # State goes before any event: the plain event survives while state can still be dropped.
    assert [e["kind"] for e in events if e["kind"] != "buffer_overflow"] == [
        "access_decision",
        "rule_action",
    ]
    assert len(overflow) == 2  # the first at once, the rest folded into one a minute later
    kept_state = [r.seq for r in rows if r.stream == "state"]
    assert kept_state == list(range(kept_state[0], 21))  # the newest survive, in order
    reported = sum(e["data"]["evicted"]["state"] for e in overflow)
    # Every state message is delivered, reported as evicted, or counted for the next report.
    assert reported + len(kept_state) + unreported.get("state", 0) == 20
    assert reported >= 15
    assert sum(by_stream.values()) == 10


async def test_eviction_then_plain_events_when_no_state_left(tmp_path: Path) -> None:
    """With no state left, the oldest plain events go; access events never do."""
    db = Database.open(tmp_path / "a.db")
    async with Outbox(db, SimClock(T0), OutboxConfig(max_messages=3)) as box:
        for kind in ("access_granted", "rule_1", "rule_2", "access_denied", "rule_3"):
            await box.put(EventBody(kind=kind))
        await box.flush()
        kinds = []
        while box.depth:
            row = await box.next()
            kinds.append(msgspec.json.decode(row.payload)["kind"])
            box.ack(row)
            await box.flush()
    db.close()
    # The report itself counts toward the bound: the last plain event made room for it.
    assert kinds == ["access_granted", "access_denied", "buffer_overflow"]


async def test_age_bound_evicts_only_evictable(tmp_path: Path) -> None:
    """Messages older than max_age are dropped if evictable; alarms stay."""
    db = Database.open(tmp_path / "a.db")
    clock = SimClock(T0)
    async with Outbox(db, clock, OutboxConfig(max_age_s=3600)) as box:
        await box.put(state(1))
        await box.put(AlarmBody(alarm_id="a", action="raise"))
        await clock.advance(7200)
        await box.put(state(2))
        await box.flush()
        streams = await box.depth_by_stream()
    db.close()
    assert streams == {"alarm": 1, "state": 1, "event": 1}  # state 1 gone, overflow reported


async def test_wire_payload_decodes_as_contract_type(tmp_path: Path) -> None:
    """The stored payload stamped with session/historical is a valid `State` message."""
    db = Database.open(tmp_path / "a.db")
    async with Outbox(db, SimClock(T0)) as box:
        box.live_session = 7
        await box.put(state(42))
        row = await box.next()
    db.close()
    live = msgspec.json.decode(row.wire(7), type=State)
    replayed = msgspec.json.decode(row.wire(8), type=State)
    assert (live.session, live.historical, live.seq) == (7, False, 1)
    assert (replayed.session, replayed.historical) == (8, True)
    assert live.points[0].value == 42 and live.ts == T0


async def test_a_commit_in_flight_when_the_uplink_is_cancelled_still_lands(tmp_path: Path) -> None:
    """The uplink is cancelled twice (a stop, then its deadline) while its group commit
    waits behind another component's long database job: the batch already taken is still
    written, and the outbox's own count says so, rather than being dropped unstarted."""
    db = Database.open(tmp_path / "a.db")
    clock = SimClock(T0)
    busy, release = threading.Event(), threading.Event()
    ready = asyncio.Event()

    def long_job(conn: sqlite3.Connection) -> None:
        busy.set()
        release.wait(10)

    async def uplink() -> None:
        async with Outbox(db, clock) as box:
            await box.put(EventBody(kind="first"))
            other = asyncio.ensure_future(db.run(long_job))  # e.g. a big energy flush
            await asyncio.to_thread(busy.wait, 10)
            box.put_nowait(EventBody(kind="second"))  # its commit queues behind the job
            ready.set()
            try:
                await asyncio.sleep(3600)
            finally:
                release.set()
                await other

    task = asyncio.create_task(uplink())
    await ready.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # the deadline: cancels the flush on the way out as well
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    db.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    kinds = [r[0] for r in conn.execute("SELECT stream FROM outbox ORDER BY seq")]
    conn.close()
    assert kinds == ["event", "event"]
