"""Integrity checks: a quick one within a time budget at open, the full one in the background.

`PRAGMA integrity_check` took 6.3 s on a 340 MB database on a test machine (8.6 s with a cold
page cache here), and an SD card reads several times slower: too long to sit between start and
READY. At open the check is bounded:

1. every table gets a short slice of `quick_check(<table>)` (its b-tree and its indexes; at
   most TABLE_SLICE_S, all slices together at most half the budget): the small tables that
   hold state (passes, bookings, counters, schema versions) finish well inside their slice,
   however large the journal is;
2. the tables that did not finish (the big ones) share what is left of the budget;
3. when the budget runs out the outcome is UNFINISHED, naming the tables not fully checked.

The full `integrity_check` then runs after READY on its own read-only connection and thread,
so writers are not held up (WAL lets a reader and the writer work side by side).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from edge.storage.errors import StorageCorrupt, StorageError, StorageIOError, classify
from edge.storage.keepalive import Keepalive

QUICK_CHECK_BUDGET_S = 2.0
TABLE_SLICE_S = 0.25
"""First pass: each table's share; a table of a few thousand rows is checked in milliseconds."""
_WATCH_S = 0.01


class CheckStatus(Enum):
    OK = "ok"
    DAMAGED = "damaged"
    UNFINISHED = "unfinished"
    """The budget ran out (or we were stopped) before the check finished: nothing was found."""
    ABSENT = "absent"
    """There is no file yet: a first start."""


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    kind: str
    """`quick_check` or `integrity_check`."""
    status: CheckStatus
    detail: str | None
    """What is damaged, or (UNFINISHED) which tables were not fully checked."""
    seconds: float


class _Stopwatch:
    """A watcher thread that interrupts SQLite at a deadline or on `stop`.

    `conn.interrupt()` from another thread, because most of an integrity check runs inside one
    VM instruction, where a progress handler is never called; SQLite checks the interrupt flag
    as it walks the pages. The same thread keeps systemd's start timeout extended.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        keepalive: Keepalive | None,
        stop: threading.Event | None,
    ) -> None:
        self.deadline: float | None = None
        self.interrupted = False
        self._conn = conn
        self._keepalive = keepalive
        self._stop = stop
        self._done = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sqlite-check", daemon=True)
        self._thread.start()

    def set_deadline(self, deadline: float | None) -> None:
        self.deadline = deadline
        self._wake.set()

    def _watch(self) -> None:
        while True:
            # Wake at the deadline itself, not at the next tick: a short budget is kept to
            # the millisecond. Once late, interrupt every tick (an interrupt that lands
            # between two statements is lost).
            deadline = self.deadline
            left = None if deadline is None else deadline - time.monotonic()
            self._wake.wait(_WATCH_S if left is None or left <= 0 else min(_WATCH_S, left))
            self._wake.clear()
            if self._done:
                return
            if self._keepalive is not None:
                self._keepalive()
            deadline = self.deadline
            late = deadline is not None and time.monotonic() >= deadline
            if late or (self._stop is not None and self._stop.is_set()):
                self.interrupted = True
                self._conn.interrupt()

    def close(self) -> None:
        self._done = True
        self._wake.set()
        self._thread.join()


def run_check(
    path: Path,
    kind: str = "quick_check",
    budget_s: float | None = QUICK_CHECK_BUDGET_S,
    keepalive: Keepalive | None = None,
    stop: threading.Event | None = None,
    *,
    read_only: bool = False,
) -> CheckOutcome:
    """Run `PRAGMA <kind>` on `path` within `budget_s` (None: no limit) or until `stop`.

    With a budget, a quick check goes table by table (see the module docstring).
    """
    started = time.monotonic()

    def outcome(status: CheckStatus, detail: str | None = None) -> CheckOutcome:
        return CheckOutcome(kind, status, detail, round(time.monotonic() - started, 3))

    if not path.exists():
        return outcome(CheckStatus.ABSENT)
    mode = "ro" if read_only else "rw"
    try:
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        return outcome(_judge(exc, path), str(exc))
    watch = _Stopwatch(conn, keepalive, stop)
    try:
        if budget_s is None or kind != "quick_check":
            watch.set_deadline(None if budget_s is None else started + budget_s)
            status, detail = _one(conn, f"PRAGMA {kind}", watch, path)
        else:
            status, detail = _by_table(conn, started + budget_s, watch, path)
    finally:
        watch.close()
        conn.close()
    return outcome(status, detail)


def _one(
    conn: sqlite3.Connection, sql: str, watch: _Stopwatch, path: Path
) -> tuple[CheckStatus, str | None]:
    watch.interrupted = False
    try:
        rows = conn.execute(sql).fetchall()
    except sqlite3.Error as exc:
        if watch.interrupted:
            return CheckStatus.UNFINISHED, None
        return _judge(exc, path), str(exc)
    if rows == [("ok",)]:
        return CheckStatus.OK, None
    return CheckStatus.DAMAGED, "; ".join(str(r[0]) for r in rows[:5])


def _by_table(
    conn: sqlite3.Connection, deadline: float, watch: _Stopwatch, path: Path
) -> tuple[CheckStatus, str | None]:
    watch.set_deadline(deadline)
    try:
        tables = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'table'")]  # fmt: skip
    except sqlite3.Error as exc:
        if watch.interrupted:
            return CheckStatus.UNFINISHED, "the schema could not be read in time"
        return _judge(exc, path), str(exc)
    # At most half the budget for the first pass, so every table gets its slice.
    share = min(TABLE_SLICE_S, (deadline - time.monotonic()) / (2 * max(1, len(tables))))
    passes: list[Callable[[], float]] = [
        lambda: min(deadline, time.monotonic() + share),
        lambda: deadline,
    ]
    for until in passes:
        unfinished: list[str] = []
        for table in tables:
            if time.monotonic() >= deadline:
                unfinished.append(table)
                continue
            watch.set_deadline(until())
            quoted = table.replace("'", "''")
            result, found = _one(conn, f"PRAGMA quick_check('{quoted}')", watch, path)
            if result is CheckStatus.DAMAGED:
                return result, f"{table}: {found}"
            if result is CheckStatus.UNFINISHED:
                unfinished.append(table)
        tables = unfinished
        if not tables:
            return CheckStatus.OK, None
    return CheckStatus.UNFINISHED, "not fully checked: " + ", ".join(tables)


def _judge(exc: sqlite3.Error, path: Path) -> CheckStatus:
    """DAMAGED for a damaged or unreadable file; anything else (locked by another process,
    no permission) is not the file's fault and must not send it to salvage: raised."""
    fault = classify(exc, str(path))
    if isinstance(fault, StorageCorrupt | StorageIOError):
        return CheckStatus.DAMAGED
    if fault is not None:
        raise fault
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
        raise StorageError(
            f"database {path} is locked by another process: is a second edged running? "
            f"(`systemctl status edged`, `fuser {path}`)"
        ) from exc
    raise StorageError(f"cannot check database {path}: {exc}") from exc
