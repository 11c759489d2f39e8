"""A database file deleted or replaced under the running daemon is noticed and recreated."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from edge.clock import SimClock, SystemClock
from edge.storage import Database, FileRecreated, StorageEvent, kv
from edge.uplink import AlarmBody
from edge.uplink.outbox import SCHEMA as OUTBOX
from edge.uplink.outbox import Outbox

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def read_kv(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM kv")}
    finally:
        conn.close()


def remove_all(path: Path) -> None:
    """`rm edged.db*`"""
    for f in path.parent.glob(path.name + "*"):
        f.unlink()


async def test_an_unchanged_file_is_left_alone(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA])
    assert await db.check_file() is None
    db.close()


async def test_a_deleted_file_is_recreated_with_everything_it_held(tmp_path: Path) -> None:
    """`rm edged.db*` while running: SQLite goes on writing into the unlinked file; the check
    copies it (WAL included) to a new file at the path: nothing written before or after the
    deletion is lost, later writes land in the new file, listeners hear `deleted`."""
    path = tmp_path / "e.db"
    db = Database.open(path, [kv.SCHEMA])
    heard: list[StorageEvent] = []
    db.subscribe(heard.append)
    await db.transaction(lambda c: kv.put(c, "pass:QR-1:entries", "1"))
    remove_all(path)
    await db.transaction(lambda c: kv.put(c, "after", "deleted"))  # into the unlinked file
    event = await db.check_file()
    assert isinstance(event, FileRecreated)
    assert (event.reason, event.copied, event.foreign_moved_to) == ("deleted", True, None)
    assert heard == [event]
    await db.transaction(lambda c: kv.put(c, "later", "new file"))
    assert await db.check_file() is None  # the new file is now the one we watch
    db.close()
    assert read_kv(path) == {"pass:QR-1:entries": "1", "after": "deleted", "later": "new file"}


async def test_a_whole_state_directory_deleted_is_recreated(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = Database.open(state / "e.db", [kv.SCHEMA])
    await db.transaction(lambda c: kv.put(c, "k", "v"))
    shutil.rmtree(state)
    event = await db.check_file()
    assert event is not None and event.copied
    db.close()
    assert read_kv(state / "e.db") == {"k": "v"}


async def test_a_replaced_file_is_moved_aside_and_ours_put_back(tmp_path: Path) -> None:
    """Another file moved into our place (`mv other.db edged.db`): it is kept aside intact,
    ours (as the running daemon knows it) goes back in place."""
    path = tmp_path / "e.db"
    db = Database.open(path, [kv.SCHEMA])
    await db.transaction(lambda c: kv.put(c, "ours", "1"))
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE foreign_stuff (x)")
    conn.execute("INSERT INTO foreign_stuff VALUES (42)")
    conn.commit()
    conn.close()
    os.replace(other, path)
    event = await db.check_file()
    assert event is not None and event.reason == "replaced" and event.copied
    assert event.foreign_moved_to is not None
    conn = sqlite3.connect(event.foreign_moved_to)
    assert conn.execute("SELECT x FROM foreign_stuff").fetchall() == [(42,)]
    conn.close()
    db.close()
    assert read_kv(path) == {"ours": "1"}


async def test_recreated_empty_the_stores_write_back_and_the_outbox_goes_on(
    tmp_path: Path,
) -> None:
    """When the old file cannot be copied (here: `copy_old=False`), the new file gets every
    registered schema and the restorers' state; the outbox keeps numbering where it was and
    recounts what it holds, and new messages are committed to the new file."""
    path = tmp_path / "e.db"
    db = Database.open(path, [kv.SCHEMA])
    restored: list[str] = []
    remove = db.add_restorer(lambda c: (kv.put(c, "bookings", "written back"),
                                        restored.append("bookings")))  # fmt: skip
    async with Outbox(db, SimClock(T0)) as box:
        for i in range(3):
            await box.put(AlarmBody(alarm_id=f"a{i}", action="raise"))
        path.unlink()
        event = await db.check_file(copy_old=False)
        assert event is not None and not event.copied
        await asyncio.sleep(0.05)  # the outbox reloads its counts after the event
        assert box.depth == 0  # the three committed rows went with the old file
        nxt = await box.put(AlarmBody(alarm_id="a3", action="raise"))
        assert nxt.seq == 4  # numbering never goes back
    remove()
    db.close()
    assert restored == ["bookings"]
    assert read_kv(path) == {"bookings": "written back"}
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT seq FROM outbox").fetchall() == [(4,)]
    assert conn.execute("SELECT seq FROM outbox_seq WHERE stream = 'alarm'").fetchone() == (4,)
    versions = dict(conn.execute("SELECT component, version FROM schema_version").fetchall())
    conn.close()
    assert versions == {"kv": 1, "outbox": len(OUTBOX.steps)}


async def test_watch_file_notices_a_deletion_within_seconds(tmp_path: Path) -> None:
    """The periodic check (every 2 s here) hears a deletion well within 10 s."""
    path = tmp_path / "e.db"
    db = Database.open(path, [kv.SCHEMA], clock=SystemClock())
    heard = asyncio.Event()
    db.subscribe(lambda e: heard.set() if isinstance(e, FileRecreated) else None)
    watcher = asyncio.create_task(db.watch_file(interval_s=2.0))
    path.unlink()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(heard.wait(), 10)
    print(f"deletion noticed after {loop.time() - started:.2f} s (check every 2 s)")
    watcher.cancel()
    db.close()
    assert path.exists()
