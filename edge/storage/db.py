"""The daemon's one SQLite database (WAL), owned by one worker thread.

All access goes through `Database.run(fn)`, which executes `fn(conn)` on a single
dedicated thread: the event loop never blocks on disk, and SQLite sees exactly one
writer. `synchronous=FULL` because what the daemon accepted must survive power loss.

Each subsystem owns its schema as a numbered list of migration steps registered under
its own name (`outbox`, `bookings`, `journal`...), so subsystems evolve independently.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import structlog

from edge.storage.errors import StorageError

T = TypeVar("T")
log = structlog.get_logger("edge.storage")

Migration = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Schema:
    """A component's tables: step i (1-based) brings the component to version i."""

    component: str
    steps: Sequence[Migration]


@dataclass(frozen=True)
class OpenReport:
    """What happened when the file was opened: for the storage alarm raised later."""

    path: Path
    recovered_from: Path | None = None
    reason: str | None = None


_META = """
CREATE TABLE IF NOT EXISTS schema_version (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _integrity_problem(path: Path) -> str | None:
    """None when the file is a healthy database (or absent), else why not."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:5])
    return None


def open_checked(path: Path, now: datetime | None = None) -> tuple[sqlite3.Connection, OpenReport]:
    """Open the database; a corrupt file is moved aside and a fresh one started."""
    path.parent.mkdir(parents=True, exist_ok=True)
    problem = _integrity_problem(path)
    moved: Path | None = None
    if problem is not None:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        moved = path.with_name(f"{path.name}.corrupt-{stamp}")
        shutil.move(path, moved)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                shutil.move(side, moved.with_name(moved.name + suffix))
        log.error(
            "storage_corrupt_moved_aside", path=str(path), moved_to=str(moved), reason=problem
        )
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    return conn, OpenReport(path=path, recovered_from=moved, reason=problem)


def migrate(conn: sqlite3.Connection, schema: Schema) -> int:
    """Apply the steps of `schema` not yet applied; returns the resulting version."""
    conn.execute(_META)
    row = conn.execute(
        "SELECT version FROM schema_version WHERE component = ?", (schema.component,)
    ).fetchone()
    current = int(row[0]) if row else 0
    if current > len(schema.steps):
        raise StorageError(
            f"database has {schema.component} schema v{current}, this build knows "
            f"v{len(schema.steps)}: roll the software forward or restore a matching backup"
        )
    for version, step in enumerate(schema.steps[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                for statement in step.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                step(conn)
            conn.execute(
                "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                (schema.component, version),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(schema.steps)


class Database:
    """One connection on one thread; `await db.run(fn)` or `await db.transaction(fn)`."""

    def __init__(self, conn: sqlite3.Connection, report: OpenReport) -> None:
        self._conn = conn
        self.report = report
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._closed = False

    @classmethod
    def open(cls, path: Path, schemas: Sequence[Schema] = ()) -> Database:
        conn, report = open_checked(path)
        for schema in schemas:
            migrate(conn, schema)
        return cls(conn, report)

    @property
    def path(self) -> Path:
        return self.report.path

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the database thread (autocommit unless `fn` begins)."""
        if self._closed:
            raise StorageError("database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn)

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` inside BEGIN IMMEDIATE ... COMMIT (rolled back on error).

        Once asked for, the transaction runs to its end even if the caller is cancelled
        meanwhile (a stop): cancelling the await alone would drop a job still queued on
        the database thread, and what it writes was already accepted. The cancellation
        is raised after it.
        """

        def wrapped(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        result, stopped = await finish(asyncio.ensure_future(self.run(wrapped)))
        if stopped:
            raise asyncio.CancelledError
        return result

    async def migrate(self, schema: Schema) -> int:
        return await self.run(lambda conn: migrate(conn, schema))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """For start-up and shutdown paths outside the loop only."""
        return self._executor.submit(fn, self._conn).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def _close(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()

        self._executor.submit(_close, self._conn).result()
        self._executor.shutdown(wait=True)


async def finish(work: asyncio.Future[T]) -> tuple[T, bool]:
    """`work`'s result, waiting for it through cancellations: (result, were we cancelled)."""
    stopped = False
    while True:
        try:
            return await asyncio.shield(work), stopped
        except asyncio.CancelledError:
            if work.cancelled():
                raise
            if work.done():
                return work.result(), True
            stopped = True
