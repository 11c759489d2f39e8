"""The daemon's one SQLite database (WAL), owned by one worker thread.

All access goes through `Database.run(fn)`, which executes `fn(conn)` on a single
dedicated thread: the event loop never blocks on disk, and SQLite sees exactly one
writer. `synchronous=FULL` because what the daemon accepted must survive power loss.

Each subsystem owns its schema as a numbered list of migration steps registered under
its own name (`outbox`, `bookings`, `journal`...), so subsystems evolve independently.

A failed write is a state, not a crash: errors that concern the medium come out typed
(`StorageFull`, `StorageIOError`...), the database stays usable, and `db.health` says
FAILING from the first such failure until the next good commit; listeners hear both
transitions (`db.subscribe`). Opening is bounded (`check.py`) and a damaged file is
salvaged (`salvage.py`); a file deleted or replaced while running is noticed by
`check_file()` and recreated (`recreate.py`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

import structlog

from edge.clock import Clock, SystemClock
from edge.storage import recreate
from edge.storage.check import QUICK_CHECK_BUDGET_S, CheckOutcome, CheckStatus, run_check
from edge.storage.connection import Schema, connect, migrate, rollback
from edge.storage.errors import StorageClosed, StorageError, classify
from edge.storage.events import (
    FileRecreated,
    HealthView,
    IntegrityProblem,
    Listeners,
    StorageEvent,
)
from edge.storage.health import RECOVERED_AFTER_S, HealthTracker
from edge.storage.keepalive import Keepalive
from edge.storage.preflight import state_dir_problems
from edge.storage.recreate import Restorer
from edge.storage.salvage import SalvageReport, resume, salvage

T = TypeVar("T")
log = structlog.get_logger("edge.storage")


CLOSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class OpenReport:
    """What happened when the file was opened: for the journal and the storage alarm."""

    path: Path
    recovered_from: Path | None = None
    """Where a damaged file was moved after salvage (None when the file was fine)."""
    reason: str | None = None
    """Why the file was judged damaged."""
    check: CheckOutcome | None = None
    """The bounded quick check at open (UNFINISHED: the budget ran out; the full check follows)."""
    salvage: SalvageReport | None = None
    """Rows recovered and lost per table, when a salvage ran (or was finished after a crash)."""
    seconds: float = 0.0
    """From the start of open to a usable connection (checks and salvage included)."""
    extensions: int = 0
    """How many EXTEND_TIMEOUT_USEC requests were sent while opening."""


def _unusable(path: Path, exc: BaseException | None = None) -> StorageError:
    """The clearest error for a database that cannot be opened: the directory's problem first."""
    problems = state_dir_problems(path.parent, path.name)
    if problems:
        return StorageError(str(problems[0]))
    return StorageError(f"cannot open database {path}: {exc}")


def open_checked(
    path: Path,
    now: datetime | None = None,
    *,
    budget_s: float | None = QUICK_CHECK_BUDGET_S,
    keepalive: Keepalive | None = None,
) -> tuple[sqlite3.Connection, OpenReport]:
    """Open the database: finish an interrupted salvage, check within `budget_s`, salvage a
    damaged file into a fresh one (the damaged one is moved aside), then connect."""
    started = time.monotonic()
    alive = keepalive or Keepalive()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(path, exc) from exc
    problems = state_dir_problems(path.parent, path.name)
    if problems:
        raise StorageError(str(problems[0]))
    finished, interrupted = resume(path)
    check = run_check(path, "quick_check", budget_s, alive)
    report = finished
    if check.status is CheckStatus.DAMAGED:
        log.error("storage_damaged", path=str(path), detail=check.detail)
        stamp = now or SystemClock().now()
        report = salvage(path, check.detail or "damaged", stamp, alive, resumed=interrupted)
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from exc
    return conn, OpenReport(
        path=path,
        recovered_from=Path(report.moved_to) if report is not None else None,
        reason=report.reason if report is not None else None,
        check=check,
        salvage=report,
        seconds=round(time.monotonic() - started, 3),
        extensions=alive.sent,
    )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Database:
    """One connection on one thread; `await db.run(fn)` or `await db.transaction(fn)`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        report: OpenReport,
        *,
        clock: Clock | None = None,
        recovered_after_s: float = RECOVERED_AFTER_S,
    ) -> None:
        self._conn = conn
        self.report = report
        self._clock: Clock = clock or SystemClock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._closed = False
        self._events: Listeners[StorageEvent] = Listeners()
        self._health = HealthTracker(self._clock, self._events.emit, recovered_after_s)
        self._schemas: dict[str, Schema] = {}
        self._restorers: list[Restorer] = []
        self._identity = _identity(report.path)
        self._stop_checks = threading.Event()

    @classmethod
    def open(
        cls,
        path: Path,
        schemas: Sequence[Schema] = (),
        *,
        clock: Clock | None = None,
        check_budget_s: float | None = QUICK_CHECK_BUDGET_S,
        extend_timeout: Callable[[float], object] | None = None,
        recovered_after_s: float = RECOVERED_AFTER_S,
    ) -> Database:
        """Open (checking, salvaging) and migrate. Blocking: call it via `asyncio.to_thread`.

        `extend_timeout(seconds)` is called every few seconds while a long check or salvage
        runs: pass `Notifier.extend_timeout` so systemd's start timeout does not run out.
        """
        started = time.monotonic()
        keepalive = Keepalive(extend_timeout)
        now = (clock or SystemClock()).now()
        conn, report = open_checked(path, now, budget_s=check_budget_s, keepalive=keepalive)
        try:
            for schema in schemas:
                migrate(conn, schema)
        except BaseException:
            conn.close()
            raise
        db = cls(conn, report, clock=clock, recovered_after_s=recovered_after_s)
        db._schemas.update({s.component: s for s in schemas})
        db.report = dataclasses.replace(report, seconds=round(time.monotonic() - started, 3))
        log.info(
            "storage_opened",
            path=str(path),
            seconds=db.report.seconds,
            check=report.check.status.value if report.check else None,
            salvaged=report.salvage is not None,
        )
        return db

    @property
    def path(self) -> Path:
        return self.report.path

    # ------------------------------------------------------------------ health and events

    @property
    def health(self) -> HealthView:
        """OK or FAILING, since when, the last error and the last good commit."""
        return self._health.view

    def subscribe(self, listener: Callable[[StorageEvent], None]) -> Callable[[], None]:
        """Hear `StorageFailing`, `StorageRecovered`, `FileRecreated`, `IntegrityProblem`.

        Returns its own unsubscribe. Called on the event loop (from `run_sync`: the caller's
        thread).
        """
        return self._events.subscribe(listener)

    def add_restorer(self, restorer: Restorer) -> Callable[[], None]:
        """`restorer(conn)` writes a store's state back after the file was recreated empty."""
        self._restorers.append(restorer)

        def remove() -> None:
            if restorer in self._restorers:
                self._restorers.remove(restorer)

        return remove

    # ------------------------------------------------------------------ jobs

    def _job(self, fn: Callable[[sqlite3.Connection], T]) -> tuple[T, bool]:
        """On the database thread: run `fn` on the current connection; (result, committed).

        The connection is read here, not when the job was queued: `check_file` may have
        swapped it for a recreated file meanwhile.
        """
        conn = self._conn
        before = conn.total_changes
        result = fn(conn)
        return result, conn.total_changes != before and not conn.in_transaction

    def _settle(self, outcome: BaseException | bool) -> None:
        """Health bookkeeping for one finished job (on the caller's side of the thread)."""
        if outcome is True:
            self._health.committed()
        elif isinstance(outcome, BaseException):
            fault = classify(outcome, str(self.path))
            if fault is not None:
                self._health.failed(fault)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the database thread (autocommit unless `fn` begins).

        A failure that concerns the medium is raised as a `StorageFault` subclass (its
        `__cause__` is SQLite's error) and turns the health to FAILING.
        """
        if self._closed:
            raise StorageClosed("database is closed")
        loop = asyncio.get_running_loop()
        try:
            result, committed = await loop.run_in_executor(self._executor, self._job, fn)
        except Exception as exc:
            self._settle(exc)
            typed = _typed(exc, self.path)
            if typed is exc:
                raise
            raise typed from exc
        self._settle(committed)
        return result

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
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
            return result

        result, stopped = await finish(asyncio.ensure_future(self.run(wrapped)))
        if stopped:
            raise asyncio.CancelledError
        return result

    async def migrate(self, schema: Schema) -> int:
        self._schemas[schema.component] = schema
        return await self.run(lambda conn: migrate(conn, schema))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """For start-up and shutdown paths outside the loop only."""
        if self._closed:
            raise StorageClosed("database is closed")
        try:
            result, committed = self._executor.submit(self._job, fn).result()
        except Exception as exc:
            self._settle(exc)
            typed = _typed(exc, self.path)
            if typed is exc:
                raise
            raise typed from exc
        self._settle(committed)
        return result

    # ------------------------------------------------------------------ the file itself

    async def check_file(self, *, copy_old: bool = True) -> FileRecreated | None:
        """Notice a database file deleted or replaced under us and recreate it.

        Cheap (one `stat`); run it every few seconds. On a change: the still-open old file
        is copied into a new one at the path (nothing lost; `copy_old=False` skips that,
        for tests), or failing that a fresh file gets every registered schema and the
        stores' restorers. Listeners hear a `FileRecreated`.
        """
        if self._closed:
            return None
        loop = asyncio.get_running_loop()
        event = await loop.run_in_executor(self._executor, self._check_file_job, copy_old)
        if event is not None:
            self._events.emit(event)
        return event

    def _check_file_job(self, copy_old: bool) -> FileRecreated | None:
        now = _identity(self.path)
        if now is not None and now == self._identity:
            return None
        reason: Literal["deleted", "replaced"] = "deleted" if now is None else "replaced"
        log.error("storage_file_changed", path=str(self.path), reason=reason)
        try:
            conn, event = recreate.recreate(
                self._conn,
                self.path,
                reason,
                list(self._schemas.values()),
                list(self._restorers),
                self._clock.now(),
                copy_old=copy_old,
            )
        except (OSError, sqlite3.Error) as exc:
            # The old connection still works (on the unlinked file): keep running on it.
            log.error("storage_recreate_failed", path=str(self.path), error=str(exc))
            fault = classify(exc, str(self.path))
            if fault is not None:
                self._health.failed(fault)
            return None
        self._conn = conn
        self._identity = _identity(self.path)
        return event

    async def watch_file(self, interval_s: float = 5.0) -> None:
        """`check_file()` every `interval_s` (on the injected clock), forever."""
        while True:
            await self._clock.sleep(interval_s)
            try:
                await self.check_file()
            except StorageError as exc:
                log.error("storage_check_file_failed", error=str(exc))

    async def full_check(self) -> IntegrityProblem | None:
        """`PRAGMA integrity_check` on its own read-only connection and thread (writers go on).

        Run it once after start-up. Damage found is emitted as an `IntegrityProblem` (the
        next start salvages the file); `close()` stops a check still running.
        """
        outcome = await asyncio.to_thread(
            run_check, self.path, "integrity_check", None, None, self._stop_checks,
            read_only=True,
        )  # fmt: skip
        log.info("storage_full_check", status=outcome.status.value, seconds=outcome.seconds)
        if outcome.status is not CheckStatus.DAMAGED:
            return None
        event = IntegrityProblem(self.path, outcome.detail or "damaged", outcome.seconds)
        log.error("storage_integrity_problem", path=str(self.path), detail=event.detail)
        self._events.emit(event)
        return event

    # ------------------------------------------------------------------ closing

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Checkpoint and close; gives up after `timeout_s` on a hung disk (logged)."""
        if self._closed:
            return
        self._closed = True
        self._stop_checks.set()

        def _close(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # a full disk: the WAL stays, SQLite replays it
                log.warning("storage_checkpoint_failed", error=str(exc))
            conn.close()

        future = self._executor.submit(lambda: _close(self._conn))
        try:
            future.result(timeout=timeout_s)
        except TimeoutError:
            log.error("storage_close_timed_out", path=str(self.path), timeout_s=timeout_s)
            self._executor.shutdown(wait=False, cancel_futures=True)
            return
        self._executor.shutdown(wait=True)


def _typed(exc: BaseException, path: Path) -> BaseException:
    fault = classify(exc, str(path))
    return exc if fault is None else fault


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
