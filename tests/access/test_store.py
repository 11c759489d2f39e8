"""SQLite access state: entries, anti-passback and revocations survive a restart."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from edge.access import (
    SCHEMA,
    AccessStore,
    Direction,
    MemberCredential,
    PlateCredential,
    QrCredential,
    Reason,
    RevocationKind,
)
from edge.access.errors import BadRevocation
from edge.storage import Database
from tests.access.helpers import NOW, MemoryBookings, booking, mint, site


class Venue:
    """A store over a real SQLite file that can be closed and reopened like a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bookings = MemoryBookings()
        self.bookings.put(booking())
        self.db: Database | None = None
        self.store: AccessStore | None = None

    def open(self) -> AccessStore:
        self.db = Database.open(self.path, [SCHEMA])
        self.store = AccessStore(self.db, site(), lambda conn: self.bookings)
        return self.store

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def restart(self) -> AccessStore:
        self.close()
        return self.open()


@pytest_asyncio.fixture
async def venue(tmp_path: Path) -> AsyncIterator[Venue]:
    v = Venue(tmp_path / "edged.db")
    v.open()
    yield v
    v.close()


async def test_used_up_survives_restart(venue: Venue) -> None:
    """A single-entry pass used once is used_up after closing and reopening the database."""
    token = QrCredential(mint(entries=1))
    store = venue.store
    assert store is not None
    assert (await store.decide(token, "gate-main", NOW)).reason is Reason.GRANTED
    store = venue.restart()
    later = NOW + timedelta(minutes=30)
    assert (await store.decide(token, "gate-main", later)).reason is Reason.USED_UP
    assert (await store.usage("p-1")).entries == 1


async def test_passback_survives_restart_and_exit_clears_it(venue: Venue) -> None:
    """Re-entry without exit is passback across a restart; an exit clears it."""
    token = QrCredential(mint(entries=0))
    store = venue.store
    assert store is not None
    assert (await store.decide(token, "gate-main", NOW)).granted
    store = venue.restart()
    again = NOW + timedelta(minutes=1)
    assert (await store.decide(token, "gate-main", again)).reason is Reason.PASSBACK
    out = await store.decide(token, "gate-main-out", again)
    assert (out.granted, out.direction) == (True, Direction.OUT)
    assert (await store.usage("p-1")).last_direction is Direction.OUT
    assert (await store.decide(token, "gate-main", again)).reason is Reason.GRANTED
    assert (await store.usage("p-1")).entries == 2


async def test_refusals_do_not_count(venue: Venue) -> None:
    """Only granted entries are counted; a refusal writes nothing."""
    store = venue.store
    assert store is not None
    d = await store.decide(QrCredential(mint()), "gate-gym", NOW)
    assert d.reason is Reason.WRONG_GATE
    assert (await store.usage("p-1")).entries == 0


async def test_cancellation_takes_effect_on_next_scan(venue: Venue) -> None:
    """Once the booking store marks the booking cancelled, its pass is refused."""
    store = venue.store
    assert store is not None
    token = QrCredential(mint(entries=0))
    assert (await store.decide(token, "gate-main", NOW)).granted
    venue.bookings.put(booking(cancelled=True))
    later = NOW + timedelta(minutes=20)
    assert (await store.decide(token, "gate-main", later)).reason is Reason.BOOKING_CANCELLED


async def test_revocations_persist_and_can_be_replaced(venue: Venue) -> None:
    """Revoked passes, members and plates stay revoked across a restart; a snapshot replaces all."""
    store = venue.store
    assert store is not None
    await store.revoke(RevocationKind.PASS, "p-1", NOW, note="lost phone")
    await store.revoke(RevocationKind.MEMBER, "m-42", NOW)
    await store.revoke(RevocationKind.PLATE, "京a 12345", NOW)
    store = venue.restart()
    assert (await store.decide(QrCredential(mint()), "gate-main", NOW)).reason is Reason.REVOKED
    assert (await store.decide(MemberCredential("m-42"), "gate-main", NOW)).reason is Reason.REVOKED
    assert (
        await store.decide(PlateCredential("京A12345"), "barrier", NOW)
    ).reason is Reason.REVOKED
    assert await store.unrevoke(RevocationKind.MEMBER, "m-42")
    assert not await store.unrevoke(RevocationKind.MEMBER, "m-42")
    assert await store.replace_revocations([(RevocationKind.PASS, "p-9")], NOW) == 1
    assert await store.revocations() == [(RevocationKind.PASS, "p-9")]
    assert (await store.decide(QrCredential(mint()), "gate-main", NOW)).granted


async def test_bad_revocation_refused(venue: Venue) -> None:
    """A plate revocation that is not a plate is refused with a named error."""
    assert venue.store is not None
    with pytest.raises(BadRevocation):
        await venue.store.revoke(RevocationKind.PLATE, "!!", NOW)


async def test_concurrent_scans_of_single_entry_pass_grant_once(venue: Venue) -> None:
    """Two readers scanning one single-entry pass at the same moment: exactly one granted."""
    store = venue.store
    assert store is not None
    token = QrCredential(mint(entries=1, gates=("gate-main", "gate-gym")))
    results = await asyncio.gather(
        *(store.decide(token, gate, NOW) for gate in ["gate-main", "gate-gym"] * 4)
    )
    assert sum(d.granted for d in results) == 1


async def test_prune_forgets_only_long_expired_passes(venue: Venue) -> None:
    """Usage rows go once their pass expired more than keep_s ago."""
    store = venue.store
    assert store is not None
    await store.decide(QrCredential(mint()), "gate-main", NOW)
    assert await store.prune(NOW, keep_s=3600) == 0
    assert await store.prune(NOW + timedelta(days=2), keep_s=3600) == 1
    assert (await store.usage("p-1")).entries == 0


async def test_schema_registered_under_access_component(venue: Venue) -> None:
    """Migrations are recorded under component 'access'."""
    assert venue.db is not None
    rows = await venue.db.run(
        lambda conn: conn.execute(
            "SELECT version FROM schema_version WHERE component = 'access'"
        ).fetchall()
    )
    assert rows == [(1,)]


def test_member_and_plate_do_not_touch_usage(tmp_path: Path) -> None:
    """Member and plate decisions leave the pass usage table empty."""
    v = Venue(tmp_path / "x.db")
    store = v.open()

    async def run() -> None:
        await store.decide(MemberCredential("m-42"), "gate-main", NOW)
        await store.decide(PlateCredential("京A12345"), "barrier", NOW)

    asyncio.run(run())
    v.close()
    conn = sqlite3.connect(tmp_path / "x.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM access_usage").fetchone() == (0,)
    finally:
        conn.close()


async def test_release_after_evacuation_lets_people_back_in(venue: Venue) -> None:
    """After an emergency, passes recorded inside get their entry back and no passback."""
    store = venue.store
    assert store is not None
    single = QrCredential(mint(entries=1))
    multi = QrCredential(mint(pass_id="p-2", entries=0))
    gone = QrCredential(mint(pass_id="p-3", entries=1))
    for cred in (single, multi, gone):
        assert (await store.decide(cred, "gate-main", NOW)).granted
    assert (await store.decide(gone, "gate-main-out", NOW)).granted
    assert await store.release_after_evacuation(NOW + timedelta(minutes=2)) == 2
    store = venue.restart()
    back = NOW + timedelta(minutes=3)
    assert (await store.decide(single, "gate-main", back)).reason is Reason.GRANTED
    assert (await store.decide(multi, "gate-main", back)).reason is Reason.GRANTED
    assert (await store.decide(gone, "gate-main", back)).reason is Reason.USED_UP
