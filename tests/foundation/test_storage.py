"""One SQLite database: WAL, migrations per component, corrupt files moved aside."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from edge.storage import Database, Schema, StorageError, kv

NOTES = Schema("notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"])
NOTES_V2 = Schema("notes", [*NOTES.steps, "ALTER TABLE notes ADD COLUMN author TEXT"])


async def test_wal_and_migrations(tmp_path: Path) -> None:
    """Migrations apply once per component, in order, and the journal mode is WAL."""
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA, NOTES])
    assert await db.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    db.close()
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA, NOTES_V2])
    await db.run(lambda c: c.execute("INSERT INTO notes(body, author) VALUES ('x', 'y')"))
    versions = await db.run(lambda c: dict(c.execute("SELECT * FROM schema_version").fetchall()))
    assert versions == {"kv": 1, "notes": 2}
    db.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    """A database from a newer build is refused with a message, not silently used."""
    Database.open(tmp_path / "e.db", [NOTES_V2]).close()
    with pytest.raises(StorageError, match="roll the software forward"):
        Database.open(tmp_path / "e.db", [NOTES])


async def test_transaction_rolls_back(tmp_path: Path) -> None:
    """An exception inside a transaction leaves nothing behind."""
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA])

    def fail(c: sqlite3.Connection) -> None:
        kv.put(c, "a", "1")
        raise ValueError("halfway")

    with pytest.raises(ValueError):
        await db.transaction(fail)
    assert await db.run(lambda c: kv.get(c, "a")) is None
    db.close()


def test_corrupt_file_salvaged_then_moved_aside(tmp_path: Path) -> None:
    """A corrupt database is salvaged into a fresh file, then moved aside; what reads is kept."""
    path = tmp_path / "edged.db"
    db = Database.open(path, [kv.SCHEMA])
    db.run_sync(lambda c: [kv.put(c, f"k{i}", "x" * 500) for i in range(200)])
    db.close()
    raw = bytearray(path.read_bytes())
    raw[4096 : 4096 + 2000] = b"\xde\xad" * 1000  # trash a b-tree page
    path.write_bytes(bytes(raw))
    db = Database.open(path, [kv.SCHEMA])
    assert db.report.recovered_from is not None
    assert db.report.recovered_from.exists()
    assert db.report.reason
    assert db.report.salvage is not None
    figures = db.report.salvage.by_table()
    # The trashed page held schema_version; every kv row came through (the version inferred).
    assert (figures["kv"].recovered, figures["kv"].lost) == (200, 0)
    assert db.run_sync(lambda c: kv.get(c, "k1")) == "x" * 500
    db.run_sync(lambda c: kv.put(c, "k1", "new"))
    assert db.run_sync(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"
    db.close()


def test_not_a_database_moved_aside(tmp_path: Path) -> None:
    """A file that is not SQLite at all is treated like a corrupt one."""
    path = tmp_path / "edged.db"
    path.write_bytes(b"this is not a database" * 100)
    db = Database.open(path, [kv.SCHEMA])
    assert db.report.recovered_from is not None
    db.close()


async def test_counter_survives_reopen(tmp_path: Path) -> None:
    """A counter bumped and committed is there after the file is reopened."""
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA])
    for _ in range(3):
        await db.transaction(lambda c: kv.bump(c, "session"))
    db.close()
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA])
    assert await db.transaction(lambda c: kv.bump(c, "session")) == 4
    db.close()


async def test_a_transaction_asked_for_completes_even_if_its_caller_is_stopped(
    tmp_path: Path,
) -> None:
    """Queued behind another component's long job, a transaction whose caller is cancelled
    (twice, as a stop with a deadline does) still commits; the caller sees the cancellation
    only after it. A bare cancelled await would have dropped the queued job."""
    db = Database.open(tmp_path / "t.db")
    await db.run(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    busy, release = threading.Event(), threading.Event()

    def long_job(conn: sqlite3.Connection) -> None:
        busy.set()
        release.wait(10)

    other = asyncio.ensure_future(db.run(long_job))
    await asyncio.to_thread(busy.wait, 10)
    caller = asyncio.ensure_future(db.transaction(lambda c: c.execute("INSERT INTO t VALUES (1)")))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0.05)
    assert not caller.done()  # still waiting for its transaction
    release.set()
    await other
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await db.run(lambda c: c.execute("SELECT x FROM t").fetchall()) == [(1,)]
    db.close()
