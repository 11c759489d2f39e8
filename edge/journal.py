"""The audit journal: an append-only local record of what the gateway did and why.

Every output write (value, level, cause: booking / rule / override / cloud cmd_id /
technician), every access decision, alarm transition, emergency, config reload and
operation (edgectl or cloud). Entries are queued without blocking the caller, published
on `entries`, and committed in small batches by one writer task; `flush()` on shutdown.
Queryable by time, device, zone and booking; old entries are pruned after
`retention_days`. Who caused an entry is structured: `actor_kind` (technician, cloud,
booking, schedule, rule, system...) and `actor` (the user, cmd_id, booking or rule id).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
import structlog

from edge.clock import Clock
from edge.storage import Database, Schema
from edge.topic import Topic

log = structlog.get_logger("edge.journal")

SCHEMA = Schema(
    component="journal",
    steps=[
        """
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            device TEXT, zone TEXT, booking TEXT, actor TEXT,
            body TEXT NOT NULL
        );
        CREATE INDEX journal_ts ON journal(ts);
        CREATE INDEX journal_device ON journal(device, ts);
        CREATE INDEX journal_zone ON journal(zone, ts);
        CREATE INDEX journal_booking ON journal(booking, ts)
        """,
        "ALTER TABLE journal ADD COLUMN actor_kind TEXT",
    ],
)
MAX_QUERY_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Entry:
    ts: datetime
    kind: str
    """write | access | alarm | emergency | energy | operation | device"""
    subject: str
    """The output, gate, alarm or file concerned."""
    device: str | None = None
    zone: str | None = None
    booking: str | None = None
    actor: str | None = None
    """Who or what caused it: a user name, a cmd_id, a booking or rule id."""
    body: Mapping[str, Any] | None = None
    actor_kind: str | None = None
    """What `actor` is: technician, cloud, booking, schedule, event, system..."""


def _row(e: Entry) -> tuple[object, ...]:
    body = msgspec.json.encode(dict(e.body or {})).decode()
    return (
        e.ts.isoformat(), e.kind, e.subject, e.device, e.zone, e.booking, e.actor,
        e.actor_kind, body,
    )  # fmt: skip


class Journal:
    name = "journal"

    def __init__(
        self, db: Database, clock: Clock, retention_days: float = 90.0, batch_s: float = 0.05
    ) -> None:
        self._db = db
        self._clock = clock
        self._retention = timedelta(days=retention_days)
        self._batch_s = batch_s
        self._pending: list[Entry] = []
        self._wake = asyncio.Event()
        self.entries: Topic[Entry] = Topic("journal")
        self.written = 0

    def record(self, entry: Entry) -> None:
        """Queue an entry; never blocks and never raises into the caller."""
        self._pending.append(entry)
        self._wake.set()
        self.entries.publish(entry)

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        rows = [_row(e) for e in batch]

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO journal(ts, kind, subject, device, zone, booking, actor, "
                "actor_kind, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        try:
            await self._db.transaction(insert)
            self.written += len(rows)
        except Exception:
            self._pending[:0] = batch  # keep them for the next try
            log.exception("journal_write_failed", entries=len(batch))
            raise

    async def prune(self) -> int:
        cutoff = (self._clock.now() - self._retention).isoformat()
        return await self._db.run(
            lambda c: c.execute("DELETE FROM journal WHERE ts < ?", (cutoff,)).rowcount
        )

    async def run(self, ready: Callable[[], None]) -> None:
        await self._db.migrate(SCHEMA)
        ready()
        pruned_at = self._clock.monotonic()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await asyncio.sleep(self._batch_s)  # gather a batch: one fsync for many entries
                try:
                    await self.flush()
                except Exception:
                    await asyncio.sleep(1.0)
                    self._wake.set()
                if self._clock.monotonic() - pruned_at > 3600:
                    pruned_at = self._clock.monotonic()
                    await self.prune()
        finally:
            await asyncio.shield(self.flush())

    async def query(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        device: str | None = None,
        zone: str | None = None,
        booking: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        await self.flush()
        where, params = [], []
        for column, value in (
            ("device", device),
            ("zone", zone),
            ("booking", booking),
            ("kind", kind),
            ("subject", subject),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("ts >= ?")
            params.append(since.isoformat())
        if until is not None:
            where.append("ts <= ?")
            params.append(until.isoformat())
        sql = (
            "SELECT ts, kind, subject, device, zone, booking, actor, actor_kind, body FROM journal"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts DESC, id DESC LIMIT ?"
        params.append(str(max(1, min(limit, MAX_QUERY_ROWS))))
        rows = await self._db.run(lambda c: c.execute(sql, params).fetchall())
        keys = ("ts", "kind", "subject", "device", "zone", "booking", "actor", "actor_kind")
        return [
            {**dict(zip(keys, r[:8], strict=True)), "body": msgspec.json.decode(r[8])} for r in rows
        ]
