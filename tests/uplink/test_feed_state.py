"""The state feed: changes reach the (real, SQLite) outbox within the window, unchanged values
stay home, the refresh is flagged, and nothing is lost while the outbox refuses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.clock import Clock, SimClock, SystemClock
from edge.config.model import Uplink
from edge.feed_state import MAX_POINTS_PER_MESSAGE, StateFeed
from edge.storage import Database
from edge.storage.spill import SpillLimits
from edge.uplink import AlarmBody, PointValue
from edge.uplink.contract import Quality, State, StateBody
from edge.uplink.outbox import Enqueued, NotCommitted, Outbox
from tests.storage import disks
from tests.storage.disks import SmallDisk
from tests.uplink.test_outbox import fill, free

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
small_disk = disks.small_disk


def pv(
    point: str, value: float | int | str | None, quality: Quality = "good", s: int = 0
) -> PointValue:
    return PointValue(point=point, value=value, quality=quality, ts=T0 + timedelta(seconds=s))


@contextlib.asynccontextmanager
async def serving(
    feed: StateFeed, clock: Clock, *, window_s: float = 0.002, refresh_s: float = 0.0
) -> AsyncIterator[None]:
    started = asyncio.Event()
    task = asyncio.create_task(
        feed.serve(clock, window_s=window_s, refresh_s=refresh_s, ready=started.set)
    )
    await asyncio.wait_for(started.wait(), 2)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def take(box: Outbox, n: int, within: float = 2.0) -> list[State]:
    """The next `n` messages of the outbox, acknowledged, as the cloud would decode them."""
    out = []
    for _ in range(n):
        row = await asyncio.wait_for(box.next(), within)
        out.append(msgspec.json.decode(row.wire(1), type=State))
        box.ack(row)
    return out


async def until(cond: Callable[[], bool], within: float = 2.0) -> float:
    """Wait (real time) until `cond()`; returns the seconds it took."""
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > within:
            raise TimeoutError
        await asyncio.sleep(0.0005)
    return time.perf_counter() - t0


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database.open(tmp_path / "edged.db")


async def test_a_change_reaches_the_outbox_within_the_window(db: Database) -> None:
    """Held for the window (20 ms here) so that what is read meanwhile joins it, no longer."""
    async with Outbox(db, SystemClock()) as box:
        feed = StateFeed(box)
        async with serving(feed, SystemClock(), window_s=0.020):
            lags = []
            for i in range(5):
                feed.offer(pv("d1.a", i))
                lags.append(await until(lambda i=i: feed.messages == i + 1))  # type: ignore[misc]
                await asyncio.sleep(0.03)
            msgs = await take(box, 5)
    db.close()
    assert [m.points[0].value for m in msgs] == [0, 1, 2, 3, 4]
    assert all(0.019 <= lag < 0.020 + 0.030 for lag in lags), lags
    assert not any(m.heartbeat for m in msgs)


async def test_the_default_window_costs_milliseconds(db: Database) -> None:
    """With the default window (2 ms) a change is in the outbox a few ms after it was read."""
    window_s = Uplink().state_window_ms / 1000
    assert window_s == 0.002
    async with Outbox(db, SystemClock()) as box:
        feed = StateFeed(box)
        async with serving(feed, SystemClock(), window_s=window_s):
            lags = []
            for i in range(20):
                feed.offer(pv("d1.a", i))
                lags.append(await until(lambda i=i: feed.messages == i + 1))  # type: ignore[misc]
            assert len(await take(box, 20)) == 20
    db.close()
    assert sorted(lags)[len(lags) // 2] < 0.010, lags


async def test_points_read_together_go_in_one_message(db: Database) -> None:
    """A block read's 40 points (offered in one loop turn) are one message, in read order;
    a burst above MAX_POINTS_PER_MESSAGE is split, nothing dropped."""
    async with Outbox(db, SystemClock()) as box:
        feed = StateFeed(box)
        async with serving(feed, SystemClock(), window_s=0.0):
            for r in range(40):
                feed.offer(pv(f"d1.r{r}", r))
            [block] = await take(box, 1)
            n = MAX_POINTS_PER_MESSAGE + 10
            for r in range(n):
                feed.offer(pv(f"d2.r{r}", r))
            burst = await take(box, 2)
    db.close()
    assert [p.point for p in block.points] == [f"d1.r{r}" for r in range(40)]
    assert [len(m.points) for m in burst] == [MAX_POINTS_PER_MESSAGE, 10]
    assert [p.value for m in burst for p in m.points] == list(range(n))


async def test_unchanged_values_are_not_resent(db: Database) -> None:
    """The drivers' re-reports of unchanged values (a newer ts) do not go up; a change does,
    and so does a value that changed and came back within one window not at all."""
    async with Outbox(db, SystemClock()) as box:
        feed = StateFeed(box)
        async with serving(feed, SystemClock(), window_s=0.005):
            feed.offer(pv("d1.a", 1.5))
            feed.offer(pv("d1.b", "on"))
            first = await take(box, 1)
            for s in range(1, 6):  # five re-reports of each, unchanged
                feed.offer(pv("d1.a", 1.5, s=s))
                feed.offer(pv("d1.b", "on", s=s))
            feed.offer(pv("d1.a", 2.5, s=7))  # changed and back within the window
            feed.offer(pv("d1.a", 1.5, s=7))
            await asyncio.sleep(0.05)
            await box.flush()  # the acks of what was taken
            assert (feed.messages, box.depth, feed.dropped_unchanged) == (1, 0, 11)
            feed.offer(pv("d1.a", 1, s=8))  # an int is not the float 1.5, nor 1.0
            [changed] = await take(box, 1)
    db.close()
    assert [(p.point, p.value) for p in first[0].points] == [("d1.a", 1.5), ("d1.b", "on")]
    assert [(p.point, p.value, p.ts) for p in changed.points] == [
        ("d1.a", 1, T0 + timedelta(seconds=8))
    ]


async def test_a_quality_change_is_sent(db: Database) -> None:
    """Same value, other quality: a change (the cloud must see a point go stale or bad)."""
    async with Outbox(db, SystemClock()) as box:
        feed = StateFeed(box)
        async with serving(feed, SystemClock()):
            feed.offer(pv("d1.a", 20.0))
            feed.offer(pv("d1.a", 20.0, "stale", s=1))  # same window: the newest wins
            feed.offer(pv("d1.b", 3))
            [m1] = await take(box, 1)
            feed.offer(pv("d1.a", 20.0, "good", s=2))
            feed.offer(pv("d1.b", 3, "bad", s=2))
            [m2] = await take(box, 1)
    db.close()
    assert [(p.point, p.quality) for p in m1.points] == [("d1.a", "stale"), ("d1.b", "good")]
    assert [(p.point, p.quality) for p in m2.points] == [("d1.a", "good"), ("d1.b", "bad")]


async def test_the_refresh_is_flagged_and_sent_at_its_period(db: Database) -> None:
    """Every `refresh_s` of the injected clock, every point's latest value (its newest read,
    changed or not) goes up with `heartbeat: true`; nothing is flagged in between."""
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        feed = StateFeed(box)
        async with serving(feed, clock, refresh_s=900.0):
            for i in range(3):
                feed.offer(pv(f"d1.p{i}", i))
            [changes] = await take(box, 1)
            feed.offer(pv("d1.p0", 0, s=600))  # unchanged re-read: not sent, but the newest
            await clock.advance(899.0)
            await asyncio.sleep(0.02)
            await box.flush()
            assert (feed.messages, box.depth) == (1, 0)
            await clock.advance(1.0)
            [refresh] = await take(box, 1)
            await clock.advance(900.0)
            [again] = await take(box, 1)
    db.close()
    assert not changes.heartbeat
    assert refresh.heartbeat and again.heartbeat
    assert [(p.point, p.value) for p in refresh.points] == [
        ("d1.p0", 0),
        ("d1.p1", 1),
        ("d1.p2", 2),
    ]
    assert refresh.points[0].ts == T0 + timedelta(seconds=600)


async def test_a_pending_change_goes_unflagged_before_the_refresh(db: Database) -> None:
    """A change waiting in its window when the refresh falls due is sent as a change first."""
    clock = SimClock(T0)
    async with Outbox(db, clock) as box:
        feed = StateFeed(box)
        async with serving(feed, clock, window_s=0.5, refresh_s=60.0):
            feed.offer(pv("d1.a", 1))
            await clock.advance(60.0)  # long before the 0.5 s real-time window ends
            msgs = await take(box, 2)
    db.close()
    assert [(m.heartbeat, [p.value for p in m.points]) for m in msgs] == [(False, [1]), (True, [1])]


async def test_nothing_is_lost_while_the_outbox_is_closed(db: Database) -> None:
    """Changes offered while the outbox is not running stay pending (the newest value of each
    point) and reach it once it runs: on the retry, without another change."""
    box = Outbox(db, SystemClock())
    feed = StateFeed(box)
    async with serving(feed, SystemClock()):
        feed.offer(pv("d1.a", 1))
        feed.offer(pv("d1.b", 1))
        await asyncio.sleep(0.01)
        feed.offer(pv("d1.a", 2))  # replaces the pending 1
        await asyncio.sleep(0.01)
        assert (feed.messages, feed.pending) == (0, 2)
        async with box:
            await until(lambda: feed.messages == 1, within=5.0)
            [m] = await take(box, 1)
            feed.offer(pv("d1.a", 2, s=5))  # what was held counts as sent now
            await asyncio.sleep(0.02)
            assert (feed.messages, feed.pending) == (1, 0)
    db.close()
    assert sorted((p.point, p.value) for p in m.points) == [("d1.a", 2), ("d1.b", 1)]


async def test_nothing_is_lost_when_the_full_spill_refuses(small_disk: SmallDisk) -> None:
    """The disk is full and the memory spill holds only alarms: the outbox refuses the state
    message (not `accepted`). The feed keeps the change and delivers it once space returns."""
    db = Database.open(small_disk.path / "a.db")
    async with Outbox(db, SystemClock(), spill=SpillLimits(max_messages=2)) as box:
        await fill(small_disk, db)
        box.put_nowait(AlarmBody(alarm_id="a0", action="raise"))
        with pytest.raises(NotCommitted):
            await box.flush()
        box.put_nowait(AlarmBody(alarm_id="a1", action="raise"))
        feed = StateFeed(box)
        async with serving(feed, SystemClock()):
            feed.offer(pv("d1.a", 7))
            await asyncio.sleep(0.05)
            assert (feed.messages, feed.pending) == (0, 1)
            free(small_disk)
            await until(lambda: feed.messages == 1, within=10.0)
            got = []
            while True:
                row = await asyncio.wait_for(box.next(), 5)
                box.ack(row)
                if row.stream == "state":
                    got.append(msgspec.json.decode(row.wire(1), type=State))
                    break
    db.close()
    assert [(p.point, p.value) for m in got for p in m.points] == [("d1.a", 7)]


async def test_changes_offered_before_serving_go_when_it_starts(db: Database) -> None:
    """Points read before the `feed` component runs (or between a reload's stop and start)
    are held, and sent as soon as it runs; stopping hands what is held to the outbox."""
    async with Outbox(db, SystemClock()) as box:
        feed = StateFeed(box)
        feed.offer(pv("d1.a", 1))
        assert (feed.messages, feed.pending) == (0, 1)
        async with serving(feed, SystemClock(), window_s=1.0):
            assert feed.messages == 1
            feed.offer(pv("d1.a", 2))  # a 1 s window, cut short by the stop
        assert feed.messages == 2
        msgs = await take(box, 2)
    db.close()
    assert [m.points[0].value for m in msgs] == [1, 2]


def test_config_bounds_the_window_and_the_refresh() -> None:
    """`state_window_ms` is 0..1000, `state_refresh_s` 0 (never) or more, up to a week."""
    assert (Uplink().state_window_ms, Uplink().state_refresh_s) == (2, 900.0)
    ok = msgspec.convert({"state_window_ms": 0, "state_refresh_s": 0}, Uplink)
    assert (ok.state_window_ms, ok.state_refresh_s) == (0, 0.0)
    for bad in ({"state_window_ms": 1001}, {"state_window_ms": -1}, {"state_refresh_s": -5}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, Uplink)


class Recording:
    """The real outbox, with a note of each body it was offered (for the property below)."""

    def __init__(self, box: Outbox) -> None:
        self.box = box
        self.bodies: list[StateBody] = []

    def put_nowait(self, body: StateBody) -> Enqueued:
        self.bodies.append(body)
        return self.box.put_nowait(body)


def key(v: PointValue) -> tuple[str, str, str]:
    return (type(v.value).__name__, repr(v.value), v.quality)


READS = st.lists(
    st.tuples(
        st.sampled_from(["d1.a", "d1.b", "d2.a"]),
        st.sampled_from([0, 1, 1.0, True, "1", None, float("nan")]),
        st.sampled_from(["good", "stale", "bad"]),
        st.booleans(),  # the window ends after this read
    ),
    max_size=60,
)


async def test_sent_values_always_change_and_the_last_read_always_arrives(db: Database) -> None:
    """For any sequence of reads and window ends: every point in a sent message differs from
    what was last sent for it, and once the window ends, what was last sent is the last read."""
    async with Outbox(db, SystemClock()) as box:

        @settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(reads=READS)
        def check(reads: list[tuple[str, float | int | str | None, Quality, bool]]) -> None:
            sink = Recording(box)
            feed = StateFeed(sink)
            for i, (point, value, quality, window_ends) in enumerate(reads):
                feed.offer(pv(point, value, quality, s=i))
                if window_ends:
                    feed.flush()
            feed.flush()
            sent: dict[str, PointValue] = {}
            for body in sink.bodies:
                for v in body.points:
                    assert v.point not in sent or key(sent[v.point]) != key(v)
                    sent[v.point] = v
            last = {point: pv(point, value, quality) for point, value, quality, _ in reads}
            assert {p: key(v) for p, v in sent.items()} == {p: key(v) for p, v in last.items()}
            assert feed.pending == 0 and not any(b.heartbeat for b in sink.bodies)

        check()
    db.close()
