"""Small persistent key-value state (session counters, learned rates, versions)."""

from __future__ import annotations

import sqlite3

from edge.storage.connection import Schema

SCHEMA = Schema(
    component="kv",
    steps=["CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)"],
)


def get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def put(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO kv(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def bump(conn: sqlite3.Connection, key: str) -> int:
    """Increment an integer counter atomically and return the new value."""
    row = conn.execute(
        "INSERT INTO kv(key, value) VALUES (?, '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value",
        (key,),
    ).fetchone()
    return int(row[0])
