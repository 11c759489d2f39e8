"""Write failures are a state: typed errors, a health view, transitions heard once each."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.clock import SimClock
from edge.storage import (
    Database,
    Fault,
    HealthState,
    Schema,
    StorageEvent,
    StorageFailing,
    StorageFull,
    StorageRecovered,
)
from edge.storage.errors import StorageCorrupt, classify
from tests.storage.disks import SmallDisk

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
NOTES = Schema("notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB)"])


async def fill_until_full(db: Database) -> StorageFull:
    for _ in range(10_000):
        try:
            await db.transaction(lambda c: c.execute("INSERT INTO notes(body) VALUES (?)",
                                                     (b"x" * 20_000,)))  # fmt: skip
        except StorageFull as exc:
            return exc
    raise AssertionError("the disk never filled")


async def test_a_full_disk_raises_storage_full_and_the_database_keeps_working(
    small_disk: SmallDisk,
) -> None:
    """On a full tmpfs a commit raises StorageFull (SQLite's error as its cause); health
    turns FAILING once, with the first failure time; after space returns the next commit
    turns it OK once (here at once: no quiet time asked for), and an unsubscribed listener
    hears nothing more."""
    db = Database.open(small_disk.path / "e.db", [NOTES], recovered_after_s=0)
    heard: list[StorageEvent] = []
    unsubscribe = db.subscribe(heard.append)
    await db.transaction(lambda c: c.execute("INSERT INTO notes(body) VALUES (x'00')"))
    good = db.health.last_good_commit
    assert db.health.state is HealthState.OK and good is not None
    err = await fill_until_full(db)
    assert isinstance(err.__cause__, sqlite3.OperationalError)
    assert err.fault is Fault.FULL and err.sqlite_code == "SQLITE_FULL"
    with pytest.raises(StorageFull):  # still full: a second failure, no second event
        await db.transaction(lambda c: c.execute("INSERT INTO notes(body) VALUES (?)",
                                                 (b"y" * 50_000,)))  # fmt: skip
    view = db.health
    assert view.state is HealthState.FAILING and view.failures >= 2
    assert view.failing_since is not None and view.last_fault is Fault.FULL
    assert "full" in (view.last_error or "")
    assert await db.run(lambda c: c.execute("SELECT count(*) FROM notes").fetchone()[0]) > 0
    small_disk.resize(16)
    await db.transaction(lambda c: c.execute("INSERT INTO notes(body) VALUES (x'01')"))
    assert db.health.state is HealthState.OK and db.health.failing_since is None
    assert [type(e) for e in heard] == [StorageFailing, StorageRecovered]
    assert isinstance(heard[1], StorageRecovered) and heard[1].failed_for_s >= 0
    unsubscribe()
    small_disk.resize(2)
    await fill_until_full(db)
    assert len(heard) == 2
    db.close()  # a checkpoint that cannot run on a full disk does not stop the close


async def test_programming_errors_stay_what_they_are(tmp_path: Path) -> None:
    """A constraint or SQL error is not a storage fault: raised as is, health untouched."""
    db = Database.open(tmp_path / "e.db", [NOTES])
    with pytest.raises(sqlite3.IntegrityError):
        await db.transaction(lambda c: c.execute("INSERT INTO notes(id) VALUES (1), (1)"))
    with pytest.raises(sqlite3.OperationalError):
        await db.run(lambda c: c.execute("SELECT nope FROM notes"))
    assert db.health.state is HealthState.OK
    db.close()


def test_classify_names_the_fault_by_sqlite_code(tmp_path: Path) -> None:
    """Real SQLite errors map to typed faults; others map to None."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 300)
    conn = sqlite3.connect(bad)
    with pytest.raises(sqlite3.DatabaseError) as caught:
        conn.execute("SELECT * FROM sqlite_master").fetchall()
    conn.close()
    fault = classify(caught.value, str(bad))
    assert isinstance(fault, StorageCorrupt) and str(bad) in str(fault)
    assert classify(ValueError("x")) is None
    assert classify(sqlite3.IntegrityError("x")) is None


async def test_one_lucky_commit_on_a_full_disk_does_not_clear_the_failure(
    small_disk: SmallDisk,
) -> None:
    """A small write that still fits while big ones fail keeps the health FAILING; it turns
    OK only at a good commit with no failure in the quiet time before it."""
    clock = SimClock(T0)
    db = Database.open(small_disk.path / "e.db", [NOTES], clock=clock, recovered_after_s=5.0)
    heard: list[StorageEvent] = []
    db.subscribe(heard.append)
    await fill_until_full(db)
    small_disk.resize(16)
    await db.transaction(lambda c: c.execute("INSERT INTO notes(body) VALUES (x'01')"))
    assert db.health.state is HealthState.FAILING
    assert db.health.last_good_commit is not None  # recorded, though not yet trusted
    await clock.advance(5)
    await db.transaction(lambda c: c.execute("INSERT INTO notes(body) VALUES (x'02')"))
    assert db.health.state is HealthState.OK
    assert [type(e) for e in heard] == [StorageFailing, StorageRecovered]
    db.close()
