"""SQLite persistence of the energy component (`Schema(component="energy")`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import msgspec

from edge.energy.model import BookingEnergy, EnergyInterval
from edge.storage import Schema

SCHEMA = Schema(
    component="energy",
    steps=[
        """
        CREATE TABLE energy_intervals (
            kind TEXT NOT NULL, subject TEXT NOT NULL, start TEXT NOT NULL,
            kwh REAL NOT NULL, estimated INTEGER NOT NULL, body BLOB NOT NULL,
            PRIMARY KEY (kind, subject, start)
        );
        CREATE INDEX energy_intervals_start ON energy_intervals(start);
        CREATE TABLE energy_bookings (
            booking_id TEXT PRIMARY KEY, start TEXT NOT NULL, "end" TEXT NOT NULL,
            kwh REAL NOT NULL, body BLOB NOT NULL
        );
        CREATE TABLE energy_meters (meter TEXT PRIMARY KEY, body BLOB NOT NULL);
        CREATE TABLE energy_knots (
            meter TEXT NOT NULL, t REAL NOT NULL, cum REAL NOT NULL, why TEXT NOT NULL,
            PRIMARY KEY (meter, t)
        )
        """
    ],
)


class MeterState(msgspec.Struct, kw_only=True):
    """What must survive a restart for a meter's counter to be followed on."""

    last_t: float | None = None
    last_kwh: float | None = None
    cum: float = 0.0
    last_reading_t: float | None = None
    next_interval: str | None = None


_enc = msgspec.json.Encoder()


def save_intervals(conn: sqlite3.Connection, items: Iterable[EnergyInterval]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO energy_intervals(kind, subject, start, kwh, estimated, body) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(i.kind, i.subject, i.start.isoformat(), i.kwh, int(i.estimated), _enc.encode(i))
         for i in items],
    )  # fmt: skip


def save_bookings(conn: sqlite3.Connection, items: Iterable[BookingEnergy]) -> None:
    conn.executemany(
        'INSERT OR REPLACE INTO energy_bookings(booking_id, start, "end", kwh, body) '
        "VALUES (?, ?, ?, ?, ?)",
        [(b.booking_id, b.start.isoformat(), b.end.isoformat(), b.kwh, _enc.encode(b))
         for b in items],
    )  # fmt: skip


def save_meter(
    conn: sqlite3.Connection,
    meter: str,
    state: MeterState,
    from_t: float | None,
    knots: list[tuple[float, float, str]],
    prune_before: float,
) -> None:
    """Meter state plus its knots from `from_t` on (the tail may have been stretched)."""
    conn.execute(
        "INSERT OR REPLACE INTO energy_meters(meter, body) VALUES (?, ?)",
        (meter, _enc.encode(state)),
    )
    if from_t is not None:
        conn.execute("DELETE FROM energy_knots WHERE meter = ? AND t >= ?", (meter, from_t))
    conn.executemany(
        "INSERT OR REPLACE INTO energy_knots(meter, t, cum, why) VALUES (?, ?, ?, ?)",
        [(meter, t, c, w) for t, c, w in knots],
    )
    conn.execute("DELETE FROM energy_knots WHERE meter = ? AND t < ?", (meter, prune_before))


def load(
    conn: sqlite3.Connection, since: float, since_iso: str
) -> tuple[dict[str, MeterState], dict[str, list[tuple[float, float, str]]], dict[str, str]]:
    """Meter states, knots since `since` per meter, and booking id -> its stored window."""
    dec = msgspec.json.Decoder(MeterState)
    states = {m: dec.decode(b) for m, b in conn.execute("SELECT meter, body FROM energy_meters")}
    knots: dict[str, list[tuple[float, float, str]]] = {}
    for m, t, c, w in conn.execute(
        "SELECT meter, t, cum, why FROM energy_knots WHERE t >= ? ORDER BY meter, t", (since,)
    ):
        knots.setdefault(m, []).append((float(t), float(c), str(w)))
    done = {
        bid: f"{s}/{e}"
        for bid, s, e in conn.execute(
            'SELECT booking_id, start, "end" FROM energy_bookings WHERE "end" >= ?', (since_iso,)
        )
    }
    return states, knots, done
