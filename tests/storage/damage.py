"""Damage a real SQLite file page by page, as a power cut or a failing card does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

PAGE = 4096


def pages(path: Path, name: str, kind: str | None = None) -> list[tuple[int, int]]:
    """(page number, cells) of the b-tree `name` (a table or an index), from `dbstat`."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT pageno, ncell, pagetype FROM dbstat WHERE name = ? ORDER BY pageno", (name,)
        ).fetchall()
    finally:
        conn.close()
    return [(int(p), int(n)) for p, n, t in rows if kind is None or t == kind]


def checkpoint(path: Path) -> None:
    """Everything into the main file, WAL gone: the damage then hits what a reader sees."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def trash_page(path: Path, pageno: int) -> None:
    raw = bytearray(path.read_bytes())
    start = (pageno - 1) * PAGE
    raw[start : start + PAGE] = b"\xde\xad\xbe\xef" * (PAGE // 4)
    path.write_bytes(bytes(raw))
