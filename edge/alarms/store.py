"""SQLite persistence of alarm records (`Schema(component="alarms")`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

import msgspec

from edge.alarms.model import AlarmRecord
from edge.storage import Schema

SCHEMA = Schema(
    component="alarms",
    steps=[
        """
        CREATE TABLE alarms (
            alarm_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            body BLOB NOT NULL
        );
        CREATE INDEX alarms_state ON alarms(state, updated_at)
        """
    ],
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AlarmRecord)


def save(conn: sqlite3.Connection, records: Iterable[AlarmRecord]) -> None:
    conn.executemany(
        "INSERT INTO alarms(alarm_id, state, updated_at, body) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(alarm_id) DO UPDATE SET state = excluded.state, "
        "updated_at = excluded.updated_at, body = excluded.body",
        [
            (r.alarm_id, r.state.value, r.updated_at.isoformat(), _encoder.encode(r))
            for r in records
        ],
    )


def load(conn: sqlite3.Connection) -> list[AlarmRecord]:
    out: list[AlarmRecord] = []
    for (body,) in conn.execute("SELECT body FROM alarms").fetchall():
        try:
            out.append(_decoder.decode(body))
        except msgspec.DecodeError:
            continue  # a row from an incompatible build: skip it rather than refuse to start
    return out


def prune(conn: sqlite3.Connection, before: datetime) -> int:
    cur = conn.execute(
        "DELETE FROM alarms WHERE state = 'cleared' AND updated_at < ?", (before.isoformat(),)
    )
    return cur.rowcount
