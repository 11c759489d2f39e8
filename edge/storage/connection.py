"""The connection settings and per-component schema migrations shared by open and recreate."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from edge.storage.errors import StorageError

log = structlog.get_logger("edge.storage")

Migration = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Schema:
    """A component's tables: step i (1-based) brings the component to version i."""

    component: str
    steps: Sequence[Migration]


_META = """
CREATE TABLE IF NOT EXISTS schema_version (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)
"""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def migrate(conn: sqlite3.Connection, schema: Schema) -> int:
    """Apply the steps of `schema` not yet applied; returns the resulting version."""
    conn.execute(_META)
    row = conn.execute(
        "SELECT version FROM schema_version WHERE component = ?", (schema.component,)
    ).fetchone()
    current = int(row[0]) if row else infer_version(conn, schema)
    if current > len(schema.steps):
        raise StorageError(
            f"database has {schema.component} schema v{current}, this build knows "
            f"v{len(schema.steps)}: roll the software forward or restore a matching backup"
        )
    if row is None and current:
        log.warning("schema_version_inferred", component=schema.component, version=current)
        conn.execute(
            "INSERT INTO schema_version(component, version) VALUES (?, ?)",
            (schema.component, current),
        )
    for version, step in enumerate(schema.steps[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            _apply(conn, step)
            conn.execute(
                "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                (schema.component, version),
            )
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    return len(schema.steps)


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    if isinstance(step, str):
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    else:
        step(conn)


def _objects(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    return {
        (str(t), str(n)): " ".join(str(s).split())
        for t, n, s in conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql NOT NULL")
    }


def infer_version(conn: sqlite3.Connection, schema: Schema) -> int:
    """The version of `schema` whose tables are already in `conn`, found by replaying its steps
    on a scratch database and comparing definitions: 0 on a new file.

    Needed after a salvage that lost `schema_version`'s page while the component's tables came
    through: re-running step 1 would fail on "table already exists".
    """
    have = _objects(conn)
    if not have:
        return 0
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    version = 0
    try:
        for number, step in enumerate(schema.steps, start=1):
            try:
                _apply(scratch, step)
            except sqlite3.Error:
                break
            made = _objects(scratch)
            if not made or any(have.get(key) != sql for key, sql in made.items()):
                break
            version = number
    finally:
        scratch.close()
    return version


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite rolls back by itself on a full disk)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
