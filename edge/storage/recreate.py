"""Recreate the database file after it was deleted or replaced under the running daemon.

SQLite keeps working on an unlinked file (it holds the descriptor), so writes go on "succeeding"
into a file that is gone at the next start: pass entry counts, bookings and queued messages
would be lost silently. When `Database.check_file` sees the path's inode change:

1. the new file is built at `<db>.recreate-tmp`: a copy of the still-open old file through the
   backup API (its WAL included), or, if the old file cannot be read (or `copy_old=False`), an
   empty file with every registered schema and the stores' restorers writing back what they
   hold in memory;
2. only then is a foreign file in our place moved aside (`.replaced-<stamp>`), the old
   connection closed (SQLite checkpoints into the unlinked file), leftover `-wal`/`-shm`
   removed (a WAL beside a new file would be replayed into it), and the new file renamed in.

Nothing is destroyed before the new file is complete: if building it fails (a full disk), the
daemon keeps running on the old connection and the next check tries again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog

from edge.storage.connection import Schema, connect, migrate, rollback
from edge.storage.errors import StorageCorrupt, StorageIOError, classify
from edge.storage.events import FileRecreated

log = structlog.get_logger("edge.storage")

Restorer = Callable[[sqlite3.Connection], None]


def recreate(
    old: sqlite3.Connection,
    path: Path,
    reason: Literal["deleted", "replaced"],
    schemas: Sequence[Schema],
    restorers: Sequence[Restorer],
    now: datetime,
    *,
    copy_old: bool = True,
) -> tuple[sqlite3.Connection, FileRecreated]:
    """Build the new file, then swap it in; returns the new connection and the event."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".recreate-tmp")
    _remove_with_sides(tmp)
    copied, detail = False, ""
    if copy_old:
        copied, detail = _copy(old, tmp)
    if not copied:
        _fresh(tmp, schemas, restorers)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    foreign_to: Path | None = None
    if reason == "replaced" and path.exists():
        foreign_to = path.with_name(f"{path.name}.replaced-{stamp}")
        os.replace(path, foreign_to)
    with contextlib.suppress(sqlite3.Error):
        old.close()
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    conn = connect(path)
    for schema in schemas:  # a no-op on a copy; brings a fresh file to every version
        migrate(conn, schema)
    event = FileRecreated(
        path=path,
        reason=reason,
        copied=copied,
        foreign_moved_to=foreign_to,
        detail=detail
        or ("copied from the open file" if copied else "started empty, stores wrote back"),
    )
    log.error(
        "storage_file_recreated",
        path=str(path),
        reason=reason,
        copied=copied,
        foreign_moved_to=str(foreign_to) if foreign_to else None,
        detail=event.detail,
    )
    return conn, event


def _copy(old: sqlite3.Connection, tmp: Path) -> tuple[bool, str]:
    """Copy the open (possibly unlinked) file; (False, why) when it cannot be read.

    A failure to *write* the copy (full disk, read-only) is raised: starting empty would
    not fit either, and the old file is still good to run on.
    """
    dst = sqlite3.connect(tmp)
    try:
        old.backup(dst)
    except sqlite3.Error as exc:
        dst.close()
        _remove_with_sides(tmp)
        fault = classify(exc, str(tmp))
        if isinstance(fault, StorageCorrupt | StorageIOError):
            log.error("storage_recreate_copy_failed", error=str(exc))
            return False, f"the old file could not be copied ({exc}): started empty"
        raise
    dst.close()
    return True, ""


def _fresh(tmp: Path, schemas: Sequence[Schema], restorers: Sequence[Restorer]) -> None:
    conn = connect(tmp)
    try:
        for schema in schemas:
            migrate(conn, schema)
        for restorer in restorers:
            conn.execute("BEGIN IMMEDIATE")
            try:
                restorer(conn)
                conn.execute("COMMIT")
            except Exception:  # one store's bug must not keep the others from writing back
                rollback(conn)
                log.exception("storage_restorer_failed", restorer=repr(restorer))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _remove_with_sides(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
