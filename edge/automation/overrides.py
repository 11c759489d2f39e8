"""Manual overrides (technician or cloud), each with a mandatory expiry, in SQLite.

A store: it lives as long as the daemon, so an override survives a restart of the
automation and of the daemon. The automation reads `active(now)` at each evaluation and
re-evaluates when `changes` publishes. One override per output: a new one replaces it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import msgspec
import structlog

from edge.clock import Clock
from edge.storage import Database, Schema
from edge.topic import Topic
from rules.model import Override, Value

log = structlog.get_logger("edge.overrides")

SCHEMA = Schema(
    component="automation",
    steps=[
        "CREATE TABLE overrides (id TEXT PRIMARY KEY, output TEXT NOT NULL, body BLOB NOT NULL)",
    ],
)
MAX_OVERRIDE = timedelta(days=7)
_decoder = msgspec.json.Decoder(Override)


class OverrideRefused(Exception):
    """A manual override that cannot be accepted; the message says how to fix it."""


class OverrideStore:
    """Create with `await OverrideStore.open(db, clock)`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._by_output: dict[str, Override] = {}
        self.changes: Topic[str] = Topic("overrides")
        """Publishes the output whose override was set or released."""

    @classmethod
    async def open(cls, db: Database, clock: Clock) -> OverrideStore:
        store = cls(db, clock)
        await db.migrate(SCHEMA)
        rows = await db.run(lambda c: c.execute("SELECT body FROM overrides").fetchall())
        for ov in (_decoder.decode(r[0]) for r in rows):
            store._by_output[ov.output] = ov
        return store

    def active(self, now: datetime) -> tuple[Override, ...]:
        return tuple(o for o in self._by_output.values() if o.expires_at > now)

    def get(self, output: str) -> Override | None:
        return self._by_output.get(output)

    def all(self) -> list[Override]:
        return sorted(self._by_output.values(), key=lambda o: o.output)

    async def set(
        self,
        output: str,
        value: Value,
        duration: timedelta,
        source: str,
        by: str,
        reason: str = "",
    ) -> Override:
        if duration <= timedelta(0) or duration > MAX_OVERRIDE:
            raise OverrideRefused(
                f"override duration must be between 1 s and {MAX_OVERRIDE.days} days"
            )
        now = self._clock.now()
        ov = Override(
            id=f"ov-{output}-{int(now.timestamp() * 1000)}",
            output=output,
            value=value,
            issued_at=now,
            expires_at=now + duration,
            source="cloud" if source == "cloud" else "technician",
            by=by,
            reason=reason,
        )
        body = msgspec.json.encode(ov)

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM overrides WHERE output = ?", (output,))
            conn.execute("INSERT INTO overrides VALUES (?, ?, ?)", (ov.id, output, body))

        await self._db.transaction(save)
        self._by_output[output] = ov
        log.info("override_set", output=output, value=value, until=ov.expires_at.isoformat(), by=by)
        self.changes.publish(output)
        return ov

    async def release(self, output: str, by: str) -> bool:
        await self._db.run(lambda c: c.execute("DELETE FROM overrides WHERE output = ?", (output,)))
        gone = self._by_output.pop(output, None)
        if gone is not None:
            log.info("override_released", output=output, by=by)
            self.changes.publish(output)
        return gone is not None
