"""Booking sync: versions, gaps, validation, atomicity, survival across restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.bookings import BookingStore, BookingSync, SyncReport
from edge.clock import SimClock
from edge.storage import Database

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ZONES = {"court-1", "court-2"}


def bk(
    bid: str, zone: str = "court-1", start_h: float = 1, hours: float = 1, **kw: Any
) -> dict[str, Any]:
    start = T0 + timedelta(hours=start_h)
    return {
        "booking_id": bid,
        "zone": zone,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=hours)).isoformat(),
        "member": "m1",
        **kw,
    }


def snap(version: int, *bookings: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"version": version, "bookings": list(bookings)})


def delta(version: int, upsert: list[dict[str, Any]] = [], remove: list[str] = []) -> bytes:  # noqa: B006
    return msgspec.json.encode({"version": version, "upsert": upsert, "remove": remove})


class World:
    def __init__(self, db: Database, store: BookingStore) -> None:
        self.db = db
        self.store = store
        self.events: list[SyncReport] = []
        self.changes: list[int] = []
        store.changes.subscribe(lambda change: self.changes.append(change.version))
        self.sync = BookingSync(store, SimClock(T0), ZONES.__contains__)
        self.sync.reports.subscribe(self.events.append)

    def ids(self) -> list[str]:
        return [b.booking_id for b in self.store.snapshot()]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database.open(tmp_path / "b.db")
    yield World(db, await BookingStore.open(db))
    db.close()


async def test_snapshot_applies_and_older_is_ignored(world: World) -> None:
    """A newer snapshot replaces the store; an older or equal one changes nothing."""
    await world.sync.on_snapshot(snap(5, bk("a"), bk("b", "court-2")))
    await world.sync.on_snapshot(snap(4, bk("z")))
    await world.sync.on_snapshot(snap(5, bk("z")))
    assert world.ids() == ["a", "b"] and world.store.version == 5
    await world.sync.on_snapshot(snap(6, bk("b", "court-2")))
    assert world.ids() == ["b"] and world.changes == [5, 6]


async def test_deltas_apply_in_version_order_and_gap_asks_for_snapshot(world: World) -> None:
    """Out-of-order deltas are buffered; a gap emits bookings_resync_needed once."""
    await world.sync.on_snapshot(snap(1, bk("a")))
    await world.sync.on_delta(delta(3, [bk("c", start_h=5)]))
    assert world.ids() == ["a"] and world.kinds() == ["bookings_resync_needed"]
    assert world.events[0].data == {"have_version": 1, "received_version": 3}
    await world.sync.on_delta(delta(4, [bk("d", start_h=7)]))
    assert world.kinds() == ["bookings_resync_needed"]  # not repeated within a minute
    await world.sync.on_delta(delta(2, [bk("b", start_h=3)], ["a"]))
    assert world.ids() == ["b", "c", "d"] and world.store.version == 4
    await world.sync.on_delta(delta(3, [bk("x")]))  # duplicate: ignored
    assert world.ids() == ["b", "c", "d"]


async def test_snapshot_resolves_gap_and_applies_later_buffered(world: World) -> None:
    """A snapshot after a gap is reconciled, then buffered deltas beyond it apply."""
    await world.sync.on_delta(delta(5, [bk("e", start_h=9)]))
    await world.sync.on_delta(delta(7, [bk("g", start_h=11)]))
    await world.sync.on_snapshot(snap(6, bk("s", start_h=2)))
    assert world.store.version == 7 and world.ids() == ["s", "g"]


async def test_invalid_bookings_refuse_the_whole_message(world: World) -> None:
    """Inverted, too long, unknown zone or overlapping: nothing applied, reasons in an event."""
    await world.sync.on_snapshot(snap(1, bk("a")))
    bad = [
        snap(2, bk("ok"), bk("inv", start_h=3, hours=-1)),
        snap(2, bk("ok"), bk("long", start_h=3, hours=25)),
        snap(2, bk("ok"), bk("where", "roof")),
        snap(2, bk("x", start_h=1, hours=3), bk("y", start_h=2)),
    ]
    for payload in bad:
        await world.sync.on_snapshot(payload)
    assert world.ids() == ["a"] and world.store.version == 1
    reasons = [e.data["problems"][0]["reason"] for e in world.events]
    assert world.kinds() == ["bookings_rejected"] * 4
    assert "not after start" in reasons[0] and "24 h" in reasons[1]
    assert "unknown zone" in reasons[2] and "overlaps x" in reasons[3]


async def test_delta_overlapping_existing_booking_refused(world: World) -> None:
    """A delta booking overlapping a stored one in the same zone is refused whole."""
    await world.sync.on_snapshot(snap(1, bk("a", start_h=1, hours=2)))
    await world.sync.on_delta(delta(2, [bk("b", "court-2"), bk("c", start_h=2)]))
    assert world.ids() == ["a"] and world.store.version == 1
    assert world.kinds()[0] == "bookings_rejected"


async def test_cancelled_booking_kept_with_status(world: World) -> None:
    """A cancellation is stored as status cancelled (the rules end lights early)."""
    await world.sync.on_snapshot(snap(1, bk("a")))
    await world.sync.on_delta(delta(2, [bk("a", status="cancelled")]))
    assert world.store.get("a") is not None and world.store.get("a").status == "cancelled"  # type: ignore[union-attr]


async def test_bookings_survive_restart(tmp_path: Path) -> None:
    """Bookings and the version are read back after reopening the database."""
    db = Database.open(tmp_path / "b.db")
    w = World(db, await BookingStore.open(db))
    await w.sync.on_snapshot(snap(3, bk("a"), bk("b", "court-2", start_h=4)))
    await w.sync.on_delta(delta(4, remove=["a"]))
    db.close()
    db = Database.open(tmp_path / "b.db")
    store = await BookingStore.open(db)
    db.close()
    assert store.version == 4 and [b.booking_id for b in store.snapshot()] == ["b"]
    assert store.snapshot()[0].start == T0 + timedelta(hours=4)
    assert store.snapshot()[0].start.tzinfo is not None


async def test_local_times_stored_as_utc(world: World) -> None:
    """Offsets other than UTC are accepted and normalised to UTC."""
    await world.sync.on_snapshot(
        snap(
            1,
            {
                "booking_id": "a",
                "zone": "court-1",
                "start": "2026-05-01T17:00:00+08:00",
                "end": "2026-05-01T18:00:00+08:00",
            },
        )
    )
    b = world.store.snapshot()[0]
    assert b.start == datetime(2026, 5, 1, 9, 0, tzinfo=UTC) and b.start.utcoffset() == timedelta(0)


async def test_bad_utf8_payload_is_refused_with_event(world: World) -> None:
    """Invalid UTF-8 inside a JSON string is refused with an event, not an exception."""
    await world.sync.on_snapshot(b'{"version": 1, "bookings": [], "x": "\x80"}')
    await world.sync.on_delta(b'"\x80"')
    assert world.kinds() == ["bookings_rejected", "bookings_rejected"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    topic=st.sampled_from(["snapshot", "delta"]),
    payload=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=12),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "version",
                            "bookings",
                            "upsert",
                            "remove",
                            "start",
                            "end",
                            "zone",
                            "booking_id",
                        ]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=15,
        ).map(msgspec.json.encode),
    ),
)
async def test_fuzz_booking_topics_never_crash(world: World, topic: str, payload: bytes) -> None:
    """Random payloads on `bookings` and `bookings/delta` never raise."""
    handler = world.sync.on_snapshot if topic == "snapshot" else world.sync.on_delta
    version = world.store.version
    await handler(payload)
    assert world.store.version >= version
