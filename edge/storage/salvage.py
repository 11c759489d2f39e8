"""Salvage a damaged database row by row into a fresh file before moving it aside.

Python's `sqlite3` has no `.recover`, and the `sqlite3` CLI on Debian 12 cannot run it either
(its library lacks the `sqlite_dbpage` table: "SQL logic error"), so this is pure Python:

- the schema is read from `sqlite_master` and every table is created in a fresh file;
- each rowid table is read in rowid order; where a read fails, the next readable rowid is
  found by probing (`rowid >= x LIMIT 1`) with an exponential then a binary search, so a
  damaged page costs a few dozen queries, not one per rowid; a row whose rowid reads but whose
  content does not is counted lost;
- indexes, triggers and views are created afterwards (their pages are rebuilt, never copied);
- the rows a table should have are counted from the damaged file (through the table, or failing
  that through any of its indexes), so the report says how many were lost, or that it is unknown.

Crash safety (`kill -9` mid-salvage): a marker file says which phase was reached. The work goes
to `<db>.salvage-tmp`; only once it is complete and synced is the marker moved to `built`, the
damaged file renamed aside and the new one renamed into place. `resume()` at the next open
finishes a `built` salvage or throws a half-built one away and salvages again.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import msgspec
import structlog

log = structlog.get_logger("edge.storage")

MIN_ROWID = -(2**63)
MAX_ROWID = 2**63 - 1
COPY_BATCH = 2000
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")

Keepalive = Callable[[], None]
"""Called often during long work; the caller rate-limits it (systemd EXTEND_TIMEOUT_USEC)."""


class TableSalvage(msgspec.Struct, frozen=True):
    """One table's figures: `expected` is None when the damaged file could not count it."""

    table: str
    recovered: int
    expected: int | None

    @property
    def lost(self) -> int | None:
        """Rows lost, or None when unknown (the damaged file could not be counted)."""
        if self.expected is None:
            return None
        return max(0, self.expected - self.recovered)


class SalvageReport(msgspec.Struct, frozen=True):
    """What a salvage recovered; journaled and alarmed by the daemon."""

    reason: str
    """Why the file was judged damaged (the check's first lines)."""
    moved_to: str
    """Where the damaged file now lies (kept for forensics)."""
    tables: tuple[TableSalvage, ...] = ()
    problems: tuple[str, ...] = ()
    """What could not be rebuilt (an unreadable schema, an index that would not build)."""
    seconds: float = 0.0
    resumed: bool = False
    """True when an interrupted salvage (a kill mid-way) was completed or redone."""

    @property
    def complete(self) -> bool:
        """Every table counted and nothing lost: no state could have gone missing."""
        return not self.problems and all(t.lost == 0 for t in self.tables)

    def lost_possible(self, table: str) -> bool:
        """True unless `table` is known to have come through whole."""
        for t in self.tables:
            if t.table == table:
                return t.lost != 0
        return True  # not even its schema was readable

    def by_table(self) -> dict[str, TableSalvage]:
        return {t.table: t for t in self.tables}


class _Marker(msgspec.Struct, frozen=True):
    phase: Literal["building", "built"]
    reason: str
    moved_to: str
    report: SalvageReport | None = None


@dataclass(frozen=True)
class SalvagePaths:
    db: Path

    @property
    def marker(self) -> Path:
        return self.db.with_name(self.db.name + ".salvage")

    @property
    def tmp(self) -> Path:
        return self.db.with_name(self.db.name + ".salvage-tmp")


# ---------------------------------------------------------------------- the procedure


def salvage(
    path: Path,
    reason: str,
    now: datetime,
    keepalive: Keepalive = lambda: None,
    *,
    resumed: bool = False,
) -> SalvageReport:
    """Recover what reads from `path` into a fresh file at `path`; the damaged one moves aside."""
    paths = SalvagePaths(path)
    moved_to = path.with_name(f"{path.name}.corrupt-{now.strftime('%Y%m%dT%H%M%SZ')}")
    started = time.monotonic()
    _remove_with_sides(paths.tmp)
    _write_marker(paths.marker, _Marker("building", reason, str(moved_to)))
    tables, problems = build(path, paths.tmp, keepalive)
    report = SalvageReport(
        reason=reason,
        moved_to=str(moved_to),
        tables=tuple(tables),
        problems=tuple(problems),
        seconds=round(time.monotonic() - started, 3),
        resumed=resumed,
    )
    _write_marker(paths.marker, _Marker("built", reason, str(moved_to), report))
    _promote(paths, moved_to)
    log.warning(
        "storage_salvaged",
        path=str(path),
        moved_to=str(moved_to),
        complete=report.complete,
        tables={t.table: [t.recovered, t.lost] for t in report.tables},
        problems=list(report.problems),
        seconds=report.seconds,
    )
    return report


def resume(path: Path) -> tuple[SalvageReport | None, bool]:
    """Finish or undo a salvage a crash interrupted: (report of a finished one, marker seen).

    A `built` salvage is completed (its report returned, `resumed` set); anything else is
    thrown away, and the caller's check finds the damaged file again and salvages it anew.
    """
    paths = SalvagePaths(path)
    marker_seen = paths.marker.exists()
    tmp_seen = paths.tmp.exists()
    if not marker_seen and not tmp_seen:
        return None, False
    marker = read_marker(paths.marker) if marker_seen else None
    if marker is not None and marker.phase == "built" and tmp_seen:
        _promote(paths, Path(marker.moved_to))
        log.warning("storage_salvage_resumed", path=str(path), phase="built")
        return _resumed(marker), True
    if marker is not None and marker.phase == "built" and path.exists():
        # The new file was already in place; only the marker was left behind.
        _remove(paths.marker)
        return _resumed(marker), True
    if tmp_seen and not path.exists():
        # A half-built file with nothing else left: keep it for forensics, start afresh.
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        os.replace(paths.tmp, path.with_name(f"{path.name}.salvage-partial-{stamp}"))
    log.warning("storage_salvage_restarting", path=str(path), marker=marker_seen)
    _remove_with_sides(paths.tmp)
    _remove(paths.marker)
    return None, True


def _resumed(marker: _Marker) -> SalvageReport | None:
    if marker.report is None:
        return None
    return msgspec.structs.replace(marker.report, resumed=True)


def _promote(paths: SalvagePaths, moved_to: Path) -> None:
    """Damaged file (and its WAL) aside, the salvaged one in place, the marker gone."""
    if paths.db.exists():
        os.replace(paths.db, moved_to)
    for suffix in SIDE_SUFFIXES:
        side = paths.db.with_name(paths.db.name + suffix)
        if side.exists():
            # A WAL left beside the new file would be replayed into it: never leave one.
            os.replace(side, moved_to.with_name(moved_to.name + suffix))
    os.replace(paths.tmp, paths.db)
    _fsync_dir(paths.db.parent)
    _remove(paths.marker)


# ---------------------------------------------------------------------- marker


def read_marker(path: Path) -> _Marker | None:
    """The marker's content, or None when it is absent or unreadable (then: start over)."""
    try:
        return decode_marker(path.read_bytes())
    except OSError:
        return None


def decode_marker(data: bytes) -> _Marker | None:
    try:
        return msgspec.json.decode(data, type=_Marker)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


def _write_marker(path: Path, marker: _Marker) -> None:
    tmp = path.with_name(path.name + ".new")
    with open(tmp, "wb") as fh:
        fh.write(msgspec.json.encode(marker))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# ---------------------------------------------------------------------- building


def build(src: Path, dst: Path, keepalive: Keepalive) -> tuple[list[TableSalvage], list[str]]:
    """Copy every readable row of `src` into a new database at `dst` (synced on return)."""
    problems: list[str] = []
    out = sqlite3.connect(dst, isolation_level=None)
    try:
        out.execute("PRAGMA journal_mode=OFF")  # a crash throws this file away anyway
        out.execute("PRAGMA synchronous=OFF")
        try:
            old = sqlite3.connect(f"file:{src}?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            return [], [f"cannot open the damaged file: {exc}"]
        try:
            tables = _copy_all(old, out, keepalive, problems)
        finally:
            old.close()
        out.execute("PRAGMA journal_mode=DELETE")
    finally:
        out.close()
    with open(dst, "rb+") as fh:
        os.fsync(fh.fileno())
    return tables, problems


def _copy_all(
    old: sqlite3.Connection, out: sqlite3.Connection, keepalive: Keepalive, problems: list[str]
) -> list[TableSalvage]:
    try:
        schema = old.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        ).fetchall()
    except sqlite3.Error as exc:
        problems.append(f"schema unreadable, nothing could be recovered: {exc}")
        return []
    tables = [(str(n), str(s)) for t, n, _, s in schema if t == "table" and _user(str(n))]
    others = [(str(t), str(n), str(s)) for t, n, _, s in schema if t != "table" and _user(str(n))]
    out.execute("BEGIN")
    figures: list[TableSalvage] = []
    for name, sql in tables:
        try:
            out.execute(sql)
        except sqlite3.Error as exc:
            problems.append(f"table {name} could not be created: {exc}")
            continue
        expected = count_rows(old, name)
        recovered = _copy_table(old, out, name, sql, keepalive)
        figures.append(TableSalvage(name, recovered, expected))
        keepalive()
    _copy_sequences(old, out, problems)
    for kind, name, sql in others:
        try:
            out.execute(sql)
        except sqlite3.Error as exc:
            problems.append(f"{kind} {name} could not be rebuilt: {exc}")
        keepalive()
    out.execute("COMMIT")
    return figures


def _user(name: str) -> bool:
    return not name.startswith("sqlite_")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_rows(conn: sqlite3.Connection, table: str) -> int | None:
    """Rows in `table` per the damaged file: through the table, else through an index."""
    q = _quote(table)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {q} NOT INDEXED").fetchone()[0])
    except sqlite3.Error:
        pass
    try:
        indexes = [str(r[1]) for r in conn.execute(f"PRAGMA index_list({q})")]
    except sqlite3.Error:
        return None
    for index in indexes:
        try:
            row = conn.execute(f"SELECT count(*) FROM {q} INDEXED BY {_quote(index)}").fetchone()
            return int(row[0])
        except sqlite3.Error:
            continue
    return None


def _stored_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Column names that hold data (generated columns are recomputed, not copied)."""
    info = conn.execute(f"PRAGMA table_xinfo({_quote(table)})").fetchall()
    return [str(r[1]) for r in info if int(r[6]) == 0]


_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)


def _copy_table(
    old: sqlite3.Connection, out: sqlite3.Connection, table: str, sql: str, keepalive: Keepalive
) -> int:
    try:
        cols = _stored_columns(old, table)
    except sqlite3.Error:
        return 0
    q = _quote(table)
    names = ", ".join(_quote(c) for c in cols)
    if _WITHOUT_ROWID.search(sql.strip()):  # all or nothing: no rowid to step over damage with
        try:
            rows = old.execute(f"SELECT {names} FROM {q}").fetchall()
        except sqlite3.Error:
            return 0
        out.executemany(f"INSERT INTO {q} ({names}) VALUES ({', '.join('?' * len(cols))})", rows)
        return len(rows)
    # rowid and an INTEGER PRIMARY KEY alias may both be named: SQLite takes the same value.
    select = f"SELECT rowid, {names} FROM {q}"
    insert = f"INSERT INTO {q} (rowid, {names}) VALUES ({', '.join('?' * (len(cols) + 1))})"
    copied = 0
    for batch in read_rows(old, table, select, keepalive):
        out.executemany(insert, batch)
        copied += len(batch)
    return copied


def read_rows(
    conn: sqlite3.Connection, table: str, select: str, keepalive: Keepalive
) -> Iterator[list[tuple[object, ...]]]:
    """Batches of readable rows in rowid order, stepping over damage.

    `select` reads `rowid` first and has no WHERE clause; the range and order are added here.
    """
    q = _quote(table)
    from_sql = f"{select} WHERE rowid >= ? ORDER BY rowid"
    one_sql = f"{select} WHERE rowid = ?"
    probe_sql = f"SELECT rowid FROM {q} WHERE rowid >= ? ORDER BY rowid LIMIT 1"

    def probe(at: int) -> int | Literal[False] | None:
        """The first rowid >= at (None: no more rows), or False when that read fails."""
        try:
            row = conn.execute(probe_sql, (at,)).fetchone()
        except sqlite3.Error:
            return False
        return None if row is None else int(row[0])

    pos: int | None = MIN_ROWID
    while pos is not None:
        batch: list[tuple[object, ...]] = []
        try:
            for row in conn.execute(from_sql, (pos,)):
                batch.append(tuple(row))
                pos = int(row[0]) + 1
                if len(batch) >= COPY_BATCH:
                    yield batch
                    batch = []
                    keepalive()
            pos = None  # read to the end
        except sqlite3.Error:
            pass
        if batch:
            yield batch
        if pos is None:
            return
        keepalive()
        head = probe(pos)
        if head is None:
            return
        if head is not False:
            # The failure may have come from reading ahead: try the next row on its own.
            try:
                found = conn.execute(one_sql, (head,)).fetchone()
            except sqlite3.Error:
                found = None
                log.warning("salvage_row_unreadable", table=table, rowid=head)
            if found is not None:
                yield [tuple(found)]
            pos = head + 1 if head < MAX_ROWID else None
            continue
        pos = _next_readable(probe, pos)
        log.warning("salvage_span_unreadable", table=table, resume_at=pos)


def _next_readable(probe: Callable[[int], int | Literal[False] | None], bad: int) -> int | None:
    """The smallest x > bad from which a read succeeds (None: nothing readable after `bad`)."""
    lo, step = bad, 1
    while True:
        hi = min(MAX_ROWID, lo + step)
        result = probe(hi)
        if result is not False:
            break
        if hi == MAX_ROWID:
            return None
        lo, step = hi, step * 2
    while hi - lo > 1:  # probe(lo) fails, probe(hi) reads
        mid = (lo + hi) // 2
        if probe(mid) is False:
            lo = mid
        else:
            hi = mid
    return hi


def _copy_sequences(old: sqlite3.Connection, out: sqlite3.Connection, problems: list[str]) -> None:
    """AUTOINCREMENT high-water marks, so ids of deleted rows are never handed out again."""
    try:
        seqs = old.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
    except sqlite3.Error as exc:
        if "no such table" not in str(exc):
            problems.append(f"AUTOINCREMENT counters unreadable: {exc}")
        return
    for name, seq in seqs:
        updated = out.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (seq, name)
        ).rowcount
        if not updated:
            out.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (name, seq))


# ---------------------------------------------------------------------- files


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _remove_with_sides(path: Path) -> None:
    _remove(path)
    for suffix in SIDE_SUFFIXES:
        _remove(path.with_name(path.name + suffix))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
