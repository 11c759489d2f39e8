"""The booking store: SQLite for survival across restarts, an in-memory copy for fast reads.

Every change is one transaction (all bookings of a snapshot or delta plus the new version)
so a crash never leaves a half-applied version. Each applied version is published on the
store's `changes` topic, with the bookings as one immutable, ordered tuple that readers
share (nothing converts the bookings again per read).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
import structlog

from edge.bookings.model import in_utc
from edge.storage import Database, Schema
from edge.topic import Topic
from rules.model import Booking

log = structlog.get_logger("edge.bookings")

SCHEMA = Schema(
    component="bookings",
    steps=[
        """
        CREATE TABLE bookings (
            booking_id TEXT PRIMARY KEY,
            zone TEXT NOT NULL,
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,
            status TEXT NOT NULL,
            version INTEGER NOT NULL,
            body BLOB NOT NULL
        );
        CREATE TABLE bookings_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        );
        INSERT INTO bookings_state(id, version) VALUES (1, 0)
        """
    ],
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Booking)


@dataclass(frozen=True, slots=True)
class BookingsChanged:
    """A version was applied; `bookings` is every booking at it, ordered by start."""

    version: int
    bookings: tuple[Booking, ...]


def _ordered(bookings: Iterable[Booking]) -> tuple[Booking, ...]:
    return tuple(sorted(bookings, key=lambda b: (b.start, b.booking_id)))


class BookingStore:
    """Bookings by id at a sync `version`. Create with `await BookingStore.open(db)`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._bookings: dict[str, Booking] = {}
        self._ordered: tuple[Booking, ...] = ()
        self._version = 0
        self.changes: Topic[BookingsChanged] = Topic("bookings")

    @classmethod
    async def open(cls, db: Database) -> BookingStore:
        store = cls(db)
        await db.migrate(SCHEMA)

        def load(conn: sqlite3.Connection) -> tuple[int, list[Booking]]:
            version = int(conn.execute("SELECT version FROM bookings_state").fetchone()[0])
            rows = conn.execute("SELECT body FROM bookings").fetchall()
            return version, [_decoder.decode(r[0]) for r in rows]

        store._version, items = await db.run(load)
        store._bookings = {b.booking_id: b for b in items}
        store._ordered = _ordered(items)
        log.info("bookings_loaded", version=store._version, count=len(items))
        db.add_restorer(store._restore)
        return store

    def _restore(self, conn: sqlite3.Connection) -> None:
        """Restorer (database thread): a file recreated empty gets the bookings back."""
        _write(conn, self._version, list(self._bookings.values()), [])

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> tuple[Booking, ...]:
        """Every booking (confirmed and cancelled), ordered by start (shared, immutable)."""
        return self._ordered

    def get(self, booking_id: str) -> Booking | None:
        return self._bookings.get(booking_id)

    async def replace_all(self, version: int, bookings: Iterable[Booking]) -> None:
        """Make the store exactly `bookings` at `version` (a reconciled snapshot)."""
        wanted = {b.booking_id: in_utc(b) for b in bookings}
        upsert = [b for bid, b in wanted.items() if self._bookings.get(bid) != b]
        remove = [bid for bid in self._bookings if bid not in wanted]
        await self._commit(version, upsert, remove)

    async def apply(self, version: int, upsert: Iterable[Booking], remove: Iterable[str]) -> None:
        """Apply one delta atomically."""
        await self._commit(version, [in_utc(b) for b in upsert], list(remove))

    async def _commit(self, version: int, upsert: list[Booking], remove: list[str]) -> None:
        await self._db.transaction(lambda conn: _write(conn, version, upsert, remove))
        for b in upsert:
            self._bookings[b.booking_id] = b
        for bid in remove:
            self._bookings.pop(bid, None)
        self._version = version
        self._ordered = _ordered(self._bookings.values())
        log.info("bookings_applied", version=version, upserted=len(upsert), removed=len(remove))
        self.changes.publish(BookingsChanged(version, self._ordered))


def _write(
    conn: sqlite3.Connection, version: int, upsert: list[Booking], remove: list[str]
) -> None:
    rows = [
        (
            b.booking_id,
            b.zone,
            b.start.isoformat(),
            b.end.isoformat(),
            b.status,
            b.version,
            _encoder.encode(b),
        )
        for b in upsert
    ]
    conn.executemany(
        'INSERT INTO bookings(booking_id, zone, start, "end", status, version, body) '
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(booking_id) DO UPDATE SET "
        'zone = excluded.zone, start = excluded.start, "end" = excluded."end", '
        "status = excluded.status, version = excluded.version, body = excluded.body",
        rows,
    )
    conn.executemany("DELETE FROM bookings WHERE booking_id = ?", [(r,) for r in remove])
    conn.execute("UPDATE bookings_state SET version = ?", (version,))
