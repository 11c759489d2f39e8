"""When pass entry counts may have been lost, counted passes fail closed.

A single-entry pass is refused once `access_usage` says it was used. If that table lost
rows (a salvage that could not read all of it, a database deleted under the running daemon
and recreated empty), a used pass would look unused and open the gate again. So the time
of the loss is remembered (`kv`, and written back into a recreated file), and a counted
pass valid from before it is refused with `entries_unknown` until it expires: the cloud
re-syncs the holder by issuing a fresh pass (valid from after the loss).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from edge.clock import Clock
from edge.storage import Database, kv
from edge.storage.db import OpenReport
from edge.storage.events import FileRecreated, StorageEvent

log = structlog.get_logger("edge.access")

KEY = "access.counts_lost_at"
COUNTS_TABLE = "access_usage"


def counts_lost_at_open(report: OpenReport) -> bool:
    """True when the salvage at open may have lost pass entry counts."""
    return report.salvage is not None and report.salvage.lost_possible(COUNTS_TABLE)


class CountsLoss:
    """The latest moment pass entry counts may have been lost (None: never)."""

    def __init__(self, db: Database, clock: Clock, lost_at: datetime | None) -> None:
        self._db = db
        self._clock = clock
        self.lost_at = lost_at
        self._unhook: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Future[None]] = set()

    @classmethod
    async def open(cls, db: Database, clock: Clock) -> CountsLoss:
        await db.migrate(kv.SCHEMA)
        stored = await db.run(lambda conn: kv.get(conn, KEY))
        loss = cls(db, clock, _parse(stored, clock.now()))
        if counts_lost_at_open(db.report):
            await loss.mark("salvage at open could not account for every pass entry count")
        loss._unhook = [db.subscribe(loss._on_storage_event), db.add_restorer(loss._restore)]
        return loss

    def close(self) -> None:
        for unhook in self._unhook:
            unhook()
        self._unhook = []

    async def mark(self, why: str) -> None:
        self.lost_at = self._clock.now()
        await self._save(why)

    async def _save(self, why: str) -> None:
        assert self.lost_at is not None
        stamp = self.lost_at.isoformat()
        log.error("access_counts_lost", at=stamp, why=why)
        try:
            await self._db.transaction(lambda conn: kv.put(conn, KEY, stamp))
        except Exception:  # kept in memory; the restorer or the next mark writes it
            log.exception("access_counts_lost_not_saved")

    def _on_storage_event(self, event: StorageEvent) -> None:
        if isinstance(event, FileRecreated) and not event.copied:
            self.lost_at = self._clock.now()  # at once: the very next scan must see it
            task = asyncio.ensure_future(self._save(f"database {event.reason}: {event.detail}"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _restore(self, conn: sqlite3.Connection) -> None:
        """Restorer (database thread): a recreated file keeps the time of the last loss."""
        if self.lost_at is not None:
            kv.put(conn, KEY, self.lost_at.isoformat())


def _parse(value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # unreadable: a loss happened at some time; assume now (fail closed)
        return now
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
