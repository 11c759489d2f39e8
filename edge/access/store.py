"""Access state in SQLite: entries used per pass, anti-passback, revocations.

A scan is decided *and* recorded in one transaction on the database thread, so two
readers scanning the same single-entry pass at once cannot both be granted, and a
granted entry is on disk (synchronous=FULL) before the gate is told to open.
Bookings belong to the booking store: it is reached through a `BookingLookup`
built on the same connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from edge.access.context import (
    AccessState,
    BookingLookup,
    DecisionContext,
    Direction,
    PassUsage,
    RevocationKind,
    SiteAccess,
)
from edge.access.credentials import Credential, CredentialKind, normalise_plate
from edge.access.decision import Decision, Reason, decide
from edge.access.errors import BadRevocation
from edge.access.loss import CountsLoss
from edge.storage import Database, Schema

BookingsOn = Callable[[sqlite3.Connection], BookingLookup]
"""Given the database connection (on the database thread), the booking lookup to use."""

SCHEMA = Schema(
    component="access",
    steps=[
        """
        CREATE TABLE access_usage (
            pass_id TEXT PRIMARY KEY,
            entries INTEGER NOT NULL DEFAULT 0,
            last_direction TEXT,
            last_gate TEXT,
            last_ts REAL,
            expires_ts REAL NOT NULL
        );
        CREATE INDEX access_usage_expires ON access_usage(expires_ts);
        CREATE TABLE access_revocations (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            added_ts REAL NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (kind, value)
        )
        """
    ],
)


class SqliteAccessState(AccessState):
    """`AccessState` read from the connection it is given (on the database thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def usage(self, pass_id: str) -> PassUsage:
        row = self._conn.execute(
            "SELECT entries, last_direction, last_ts FROM access_usage WHERE pass_id = ?",
            (pass_id,),
        ).fetchone()
        if row is None:
            return PassUsage()
        entries, direction, ts = row
        return PassUsage(
            entries=int(entries),
            last_direction=None if direction is None else Direction(direction),
            last_ts=None if ts is None else datetime.fromtimestamp(float(ts), UTC),
        )

    def is_revoked(self, kind: RevocationKind, value: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM access_revocations WHERE kind = ? AND value = ?", (kind.value, value)
        ).fetchone()
        return row is not None


def record_decision(conn: sqlite3.Connection, decision: Decision, now: datetime) -> None:
    """Count a granted pass entry and keep the anti-passback state (exits clear it)."""
    if (
        decision.reason is not Reason.GRANTED
        or decision.kind is not CredentialKind.QR
        or decision.pass_id is None
        or decision.pass_expires is None
    ):
        return
    entering = decision.direction is Direction.IN
    conn.execute(
        "INSERT INTO access_usage(pass_id, entries, last_direction, last_gate, last_ts, expires_ts)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(pass_id) DO UPDATE SET entries = entries + excluded.entries,"
        " last_direction = excluded.last_direction, last_gate = excluded.last_gate,"
        " last_ts = excluded.last_ts, expires_ts = excluded.expires_ts",
        (
            decision.pass_id,
            1 if entering else 0,
            (decision.direction or Direction.IN).value,
            decision.gate,
            now.timestamp(),
            decision.pass_expires.timestamp(),
        ),
    )


class AccessStore:
    """Decides scans against the SQLite state and records them; owns revocations."""

    def __init__(
        self,
        db: Database,
        site: SiteAccess,
        bookings: BookingsOn,
        loss: CountsLoss | None = None,
    ) -> None:
        self._db = db
        self._site = site
        self._bookings = bookings
        self._loss = loss

    @property
    def site(self) -> SiteAccess:
        return self._site

    def reconfigure(self, site: SiteAccess) -> None:
        """Swap in a reloaded config (e.g. a rotated key ring); later scans use it."""
        self._site = site

    async def decide(
        self, credential: Credential, gate_id: str, now: datetime, *, emergency: bool = False
    ) -> Decision:
        site = self._site
        lost_at = self._loss.lost_at if self._loss is not None else None

        def work(conn: sqlite3.Connection) -> Decision:
            state = SqliteAccessState(conn)
            ctx = DecisionContext(site, self._bookings(conn), state, emergency, lost_at)
            decision = decide(credential, gate_id, now, ctx)
            record_decision(conn, decision, now)
            return decision

        return await self._db.transaction(work)

    async def usage(self, pass_id: str) -> PassUsage:
        return await self._db.run(lambda conn: SqliteAccessState(conn).usage(pass_id))

    async def revoke(self, kind: RevocationKind, value: str, now: datetime, note: str = "") -> None:
        key = _revocation_key(kind, value)
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO access_revocations(kind, value, added_ts, note) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(kind, value) DO UPDATE SET note = excluded.note",
                (kind.value, key, now.timestamp(), note),
            )
        )

    async def unrevoke(self, kind: RevocationKind, value: str) -> bool:
        key = _revocation_key(kind, value)

        def work(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM access_revocations WHERE kind = ? AND value = ?", (kind.value, key)
            )
            return cur.rowcount > 0

        return await self._db.run(work)

    async def replace_revocations(
        self, entries: Iterable[tuple[RevocationKind, str]], now: datetime
    ) -> int:
        """Make the list exactly `entries` (a snapshot from the cloud); returns its size."""
        rows = {(kind.value, _revocation_key(kind, value)) for kind, value in entries}

        def work(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM access_revocations")
            conn.executemany(
                "INSERT INTO access_revocations(kind, value, added_ts) VALUES (?, ?, ?)",
                [(k, v, now.timestamp()) for k, v in sorted(rows)],
            )
            return len(rows)

        return await self._db.transaction(work)

    async def revocations(self) -> list[tuple[RevocationKind, str]]:
        def work(conn: sqlite3.Connection) -> list[tuple[RevocationKind, str]]:
            rows = conn.execute(
                "SELECT kind, value FROM access_revocations ORDER BY kind, value"
            ).fetchall()
            return [(RevocationKind(k), str(v)) for k, v in rows]

        return await self._db.run(work)

    async def release_after_evacuation(self, now: datetime) -> int:
        return await release_after_evacuation(self._db, now)

    async def prune(self, now: datetime, keep_s: float = 86400.0) -> int:
        """Forget usage of passes expired more than `keep_s` ago; returns rows removed."""
        cutoff = now.timestamp() - keep_s
        return await self._db.run(
            lambda conn: (
                conn.execute("DELETE FROM access_usage WHERE expires_ts < ?", (cutoff,)).rowcount
            )
        )


async def release_after_evacuation(db: Database, now: datetime) -> int:
    """Call when an emergency ends: everyone recorded inside left without scanning.

    Each still-valid pass whose last scan was an entry gets that entry back and is
    marked as exited, so people can re-enter after an evacuation (no `passback`,
    no `used_up` for single-entry passes). Returns the number of passes released.
    """
    await db.migrate(SCHEMA)
    return await db.transaction(
        lambda conn: (
            conn.execute(
                "UPDATE access_usage SET entries = MAX(entries - 1, 0), last_direction = 'out',"
                " last_gate = 'evacuation', last_ts = ? WHERE last_direction = 'in'"
                " AND expires_ts > ?",
                (now.timestamp(), now.timestamp()),
            ).rowcount
        )
    )


def _revocation_key(kind: RevocationKind, value: str) -> str:
    if kind is RevocationKind.PLATE:
        plate = normalise_plate(value)
        if plate is None:
            raise BadRevocation(kind.value, value)
        return plate
    if not value or len(value) > 64:
        raise BadRevocation(kind.value, value)
    return value
