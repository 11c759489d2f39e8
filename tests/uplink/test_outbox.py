"""Outbox: durability, drain order, eviction policy, seq persistence (real SQLite files)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from edge.clock import SimClock
from edge.storage import (
    Database,
    Fault,
    HealthState,
    StorageEvent,
    StorageFailing,
    StorageRecovered,
)
from edge.storage.spill import SpillLimits
from edge.uplink import AlarmBody, EnergyBody, EventBody, PointValue, StateBody
from edge.uplink.config import OutboxConfig
from edge.uplink.contract import State
from edge.uplink.outbox import (
    ACK_DELAY_S,
    HEARTBEAT_S,
    RETRY_CAP_S,
    STOP_FLUSH_S,
    NotCommitted,
    Outbox,
)
from tests.storage import disks
from tests.storage.disks import SmallDisk

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
small_disk = disks.small_disk  # a real 2 MB tmpfs (mounted as root; skipped otherwise)


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
        enq = await box.put(EventBody(kind="operation"))
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
        nxt = await box.put(EventBody(kind="operation"))
        assert nxt.seq == 2  # seq persisted, never reused
    db.close()


async def test_drain_order_alarm_event_energy_state_and_fifo_within(tmp_path: Path) -> None:
    """Alarms first, then events, energy, state; enqueue order kept within each stream."""
    db = Database.open(tmp_path / "a.db")
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        box.put_nowait(state(1))
        box.put_nowait(EnergyBody(kind="meter_interval", meter="m1", start=T0, end=T0, kwh=1.0))
        box.put_nowait(state(2))
        box.put_nowait(EventBody(kind="operation"))
        box.put_nowait(AlarmBody(alarm_id="x", action="raise"))
        box.put_nowait(EventBody(kind="operation"))
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


async def test_rows_committed_after_the_drain_caught_up_are_not_read_back(tmp_path: Path) -> None:
    """Once the drain has read the table to its end, new commits reach it from memory, in
    priority order, with their table ids (acking them empties the table)."""
    db = Database.open(tmp_path / "a.db")
    statements: list[str] = []
    async with Outbox(db, SimClock(T0)) as box:
        box.put_nowait(state(0))
        await box.flush()
        first = await box.next()
        waiting = asyncio.ensure_future(box.next())  # reads the table to its end, then waits
        await asyncio.sleep(0.05)
        await db.run(lambda c: c.set_trace_callback(statements.append))
        box.put_nowait(state(1))
        box.put_nowait(AlarmBody(alarm_id="fire", action="raise"))
        await box.flush()
        second = await asyncio.wait_for(waiting, 2)
        third = await asyncio.wait_for(box.next(), 2)
        table = await db.run(lambda c: c.execute("SELECT id, stream FROM outbox").fetchall())
        for row in (first, second, third):
            box.ack(row)
        await box.flush()
        left = await db.run(lambda c: c.execute("SELECT count(*) FROM outbox").fetchone()[0])
        await db.run(lambda c: c.set_trace_callback(None))
    db.close()
    assert [(r.stream, r.seq) for r in (second, third)] == [("alarm", 1), ("state", 2)]
    assert sorted((r.id, r.stream) for r in (first, second, third)) == sorted(table)
    assert left == 0
    assert not [s for s in statements if s.lstrip().startswith("SELECT id, prio")]


async def test_deletes_ride_with_the_next_insert_and_wait_empty_hurries_them(
    tmp_path: Path,
) -> None:
    """An acknowledged row is deleted in the next insert's transaction, not one of its own;
    a caller of `wait_empty` does not wait ACK_DELAY_S for the last deletes."""
    db = Database.open(tmp_path / "a.db")
    async with Outbox(db, SimClock(T0)) as box:
        box.put_nowait(state(0))
        await box.flush()
        box.ack(await box.next())
        assert box.depth == 1  # deleted later, with the next insert
        await box.put(state(1))
        assert box.depth == 1
        rows = await db.run(lambda c: c.execute("SELECT seq FROM outbox").fetchall())
        assert rows == [(2,)]
        box.ack(await box.next())
        started = time.perf_counter()
        await asyncio.wait_for(box.wait_empty(), ACK_DELAY_S)
        waited = time.perf_counter() - started
    db.close()
    assert waited < ACK_DELAY_S / 2


async def test_a_backlog_built_after_the_drain_caught_up_drains_whole_and_in_order(
    tmp_path: Path,
) -> None:
    """Commits while nobody drains (the link is down) are not all held in memory: the drain
    reads them back, every one once, in order."""
    db = Database.open(tmp_path / "a.db")
    async with Outbox(db, SimClock(T0)) as box:
        waiting = asyncio.ensure_future(box.next())
        await asyncio.sleep(0.05)
        waiting.cancel()  # the session went away while waiting
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        for batch in range(6):
            for i in range(100):
                box.put_nowait(state(batch * 100 + i))
            await box.flush()
        got = await drain_all(box)
    db.close()
    assert got == [("state", i) for i in range(1, 601)]


async def test_eviction_drops_oldest_state_never_alarms_access_or_energy(tmp_path: Path) -> None:
    """Over max_messages: oldest state goes first, then plain events; a report is queued."""
    db = Database.open(tmp_path / "a.db")
    cfg = OutboxConfig(max_messages=10)
    clock = SimClock(T0)
    async with Outbox(db, clock, cfg) as box:
        await box.put(AlarmBody(alarm_id="a", action="raise"))
        await box.put(EventBody(kind="access_decision"))
        await box.put(EnergyBody(kind="meter_interval", meter="m", start=T0, end=T0, kwh=0.5))
        await box.put(EventBody(kind="operation"))
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
        "operation",
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
            await box.put(EventBody(kind="operation"))
            other = asyncio.ensure_future(db.run(long_job))  # e.g. a big energy flush
            await asyncio.to_thread(busy.wait, 10)
            box.put_nowait(EventBody(kind="operation"))  # its commit queues behind the job
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


# ---------------------------------------------------------------------- a disk that refuses


async def fill(disk: SmallDisk, db: Database) -> None:
    """A real full disk: the WAL truncated (so the next write must grow it), then a ballast
    file takes every free block."""
    await db.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    disk.fill()


def free(disk: SmallDisk) -> None:
    (disk.path / "ballast").unlink()


def committed_seqs(path: Path, stream: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT seq FROM outbox WHERE stream = ? ORDER BY id",
                                           (stream,))]  # fmt: skip
    finally:
        conn.close()


async def test_a_full_disk_is_a_state_and_the_spill_is_committed_when_space_returns(
    small_disk: SmallDisk,
) -> None:
    """Commits fail on a full disk: the committer lives on, holds every message in memory
    (exact counts), the database says FAILING; once space returns all of it is committed in
    order and the health turns OK again."""
    db = Database.open(small_disk.path / "a.db", recovered_after_s=0)
    events: list[StorageEvent] = []
    db.subscribe(events.append)
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        await box.put(EventBody(kind="operation"))
        await fill(small_disk, db)
        sent = [box.put_nowait(state(i)) for i in range(300)]
        with pytest.raises(NotCommitted):
            await box.flush()
        stats = box.spill
        assert (stats.messages, stats.failing) == (300, True)
        assert box.committer_alive and box.depth == 301
        assert db.health.state is HealthState.FAILING
        assert isinstance(db.health.last_fault, Fault) and db.health.last_fault is Fault.FULL
        await clock.advance(30)  # retries with backoff meanwhile; still full
        assert box.committer_alive and box.spill.messages == 300
        free(small_disk)
        await clock.advance(RETRY_CAP_S + 1)
        await box.flush()
        assert (box.spill.messages, box.spill.failing, box.depth) == (0, False, 301)
    db.close()
    assert committed_seqs(small_disk.path / "a.db", "state") == [e.seq for e in sent]
    conn = sqlite3.connect(small_disk.path / "a.db")
    on_disk = conn.execute("SELECT sum(length(payload)) FROM outbox WHERE stream = 'state'")
    assert on_disk.fetchone()[0] == stats.bytes  # the spill's byte count was exact
    conn.close()
    assert [type(e) for e in events] == [StorageFailing, StorageRecovered]
    assert db.health.state is HealthState.OK


async def test_spilled_messages_are_sent_from_memory_while_the_disk_refuses(
    small_disk: SmallDisk,
) -> None:
    """While commits fail, `next()` hands out spilled messages (alarms before state, after
    committed rows of the same priority); an acknowledged one never needs the disk."""
    db = Database.open(small_disk.path / "a.db")
    async with Outbox(db, SimClock(T0)) as box:
        committed = await box.put(state(0))
        await fill(small_disk, db)
        box.put_nowait(state(1))
        alarm = box.put_nowait(AlarmBody(alarm_id="fire", action="raise"))
        with pytest.raises(NotCommitted):
            await box.flush()
        rows = [await asyncio.wait_for(box.next(), 2) for _ in range(3)]
        assert [(r.stream, r.seq) for r in rows] == [("alarm", 1), ("state", 1), ("state", 2)]
        assert rows[0].msg_id == alarm.msg_id and rows[0].id < 0
        assert rows[1].msg_id == committed.msg_id and rows[1].id > 0
        for row in rows:
            box.ack(row)
        assert box.spill.sent_from_memory == 2
        assert box.spill.messages == 0
        assert box.depth == 1  # the committed row waits for its delete (the disk is full)
        box.rewind()  # a reconnect: nothing sent from memory comes back
        free(small_disk)
        await box.flush()
        assert box.depth == 0
    db.close()


async def test_a_failing_outbox_learns_the_disk_is_back_when_the_drain_left_it_nothing(
    small_disk: SmallDisk,
) -> None:
    """Every spilled message was sent from memory and acknowledged before a retry could
    commit it (a fast drain after a reconnect): with nothing of its own to write, the
    committer still tries the disk (a probe row written and deleted), so it leaves the
    failing state once space returns instead of keeping new messages in memory for good."""
    db = Database.open(small_disk.path / "a.db")
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        await fill(small_disk, db)
        box.put_nowait(state(1))
        with pytest.raises(NotCommitted):
            await box.flush()
        box.ack(await asyncio.wait_for(box.next(), 2))
        assert (box.spill.messages, box.spill.failing) == (0, True)
        failures = box.spill.commit_failures
        await clock.advance(30)
        await until(lambda: box.spill.commit_failures > failures)  # probed; still full
        assert box.spill.failing
        free(small_disk)
        await clock.advance(RETRY_CAP_S + 1)
        await until(lambda: not box.spill.failing)
        later = box.put_nowait(state(2))
        await box.flush()
    db.close()
    assert committed_seqs(small_disk.path / "a.db", "state") == [later.seq]
    conn = sqlite3.connect(small_disk.path / "a.db")
    assert conn.execute("SELECT count(*) FROM outbox_seq WHERE stream LIKE '~%'").fetchone()[0] == 0
    conn.close()


async def until(cond: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_what_the_full_spill_drops_is_counted_and_reported_after_recovery(
    small_disk: SmallDisk,
) -> None:
    """Spill bound reached while the disk is full: the oldest state goes first, alarms stay,
    and when only alarms are left a state newcomer is refused. Every drop is counted and
    reported in one `buffer_overflow` event once commits work again."""
    db = Database.open(small_disk.path / "a.db")
    async with Outbox(db, SimClock(T0), spill=SpillLimits(max_messages=5)) as box:
        await fill(small_disk, db)
        box.put_nowait(state(0))
        with pytest.raises(NotCommitted):
            await box.flush()
        for i in range(1, 4):
            box.put_nowait(state(i))
        alarms = [box.put_nowait(AlarmBody(alarm_id=f"a{i}", action="raise")) for i in range(4)]
        assert all(a.accepted for a in alarms)
        assert (box.spill.messages, box.spill.dropped) == (5, {"state": 3})
        assert box.put_nowait(state(4)).accepted  # displaces the older state (seq 4)
        alarms.append(box.put_nowait(AlarmBody(alarm_id="a4", action="raise")))
        refused = box.put_nowait(state(5))
        assert not refused.accepted  # only alarms left: the state newcomer is refused
        assert (box.spill.messages, box.spill.dropped) == (5, {"state": 6})
        assert box.unreported_evictions == {"state": 6}
        free(small_disk)
        await box.flush()
        await box.flush()  # the report was queued by the first successful commit
        rows = []
        while box.depth:
            row = await asyncio.wait_for(box.next(), 2)
            rows.append(row)
            box.ack(row)
            await box.flush()
    db.close()
    assert [r.msg_id for r in rows if r.stream == "alarm"] == [a.msg_id for a in alarms]
    assert [r.stream for r in rows if r.stream != "alarm"] == ["event"]
    report = msgspec.json.decode(rows[-1].payload)
    assert report["kind"] == "buffer_overflow" and report["data"]["reason"] == "spill_full"
    assert report["data"]["evicted"] == {"state": 6}
    assert report["data"]["spill"]["dropped"] == {"state": 6}


async def test_flush_and_stop_are_bounded_when_the_disk_stays_full(
    small_disk: SmallDisk,
) -> None:
    """A disk that never recovers: flush raises at once, stopping takes no more than a few
    seconds and says how much was not saved."""
    db = Database.open(small_disk.path / "a.db")
    clock = SimClock(T0)
    with capture_logs() as logs:
        started = time.monotonic()
        async with Outbox(db, clock) as box:
            await fill(small_disk, db)
            for i in range(10):
                box.put_nowait(state(i))
            with pytest.raises(NotCommitted):
                await asyncio.wait_for(box.flush(), 5)
        elapsed = time.monotonic() - started
    db.close()
    assert elapsed < STOP_FLUSH_S + 2
    unsaved = [e for e in logs if e["event"] == "outbox_stopped_with_unsaved"]
    assert unsaved and unsaved[0]["messages"] == 10


async def test_the_committer_beats_while_idle_and_while_backing_off(
    small_disk: SmallDisk,
) -> None:
    """`beat` and `last_progress` show a live committer when idle and when the disk is full,
    so a watchdog can tell a hung writer (no beats) from an idle one."""
    db = Database.open(small_disk.path / "a.db")
    beats: list[float] = []
    async with Outbox(db, SimClock(T0), beat=lambda: beats.append(time.monotonic())) as box:
        await asyncio.sleep(HEARTBEAT_S * 2.5)
        idle_beats = len(beats)
        await fill(small_disk, db)
        box.put_nowait(state(1))
        await asyncio.sleep(HEARTBEAT_S * 2.5)  # in a backoff on the (stepped) clock
        assert box.spill.failing
        failing_beats = len(beats) - idle_beats
        free(small_disk)
        await box.flush()
    db.close()
    assert idle_beats >= 2 and failing_beats >= 2
