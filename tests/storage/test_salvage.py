"""Salvage, don't discard: a damaged file is recovered row by row before it is moved aside."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.storage import Database, Schema, kv
from edge.storage.connection import connect, migrate
from edge.storage.salvage import (
    SalvagePaths,
    SalvageReport,
    _Marker,
    _write_marker,
    build,
    decode_marker,
    salvage,
)
from edge.uplink.outbox import SCHEMA as OUTBOX
from tests.storage.damage import checkpoint, pages, trash_page

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def fill_outbox(path: Path, rows: int, alarms: int = 0, payload: int = 300) -> None:
    """A realistic outbox: `rows` state messages, then `alarms` alarm messages."""
    conn = connect(path)
    migrate(conn, OUTBOX)
    migrate(conn, kv.SCHEMA)
    conn.execute("BEGIN")
    for i in range(rows + alarms):
        stream, prio = ("state", 4) if i < rows else ("alarm", 0)
        conn.execute(
            "INSERT INTO outbox(prio, stream, seq, msg_id, created, live_session, evictable, "
            "payload) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            (prio, stream, i + 1, f"{i:032x}", 1.7e9 + i, int(stream == "state"),
             b"{" + b"x" * payload + b"}"),
        )  # fmt: skip
    conn.execute("INSERT INTO outbox_seq VALUES ('state', ?), ('alarm', ?)", (rows, alarms))
    conn.execute("COMMIT")
    conn.close()
    checkpoint(path)


def msg_ids(path: Path, stream: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT msg_id FROM outbox WHERE stream = ? ORDER BY id", (stream,))
        return [str(r[0]) for r in rows]
    finally:
        conn.close()


def test_a_damaged_leaf_costs_exactly_its_rows(tmp_path: Path) -> None:
    """One trashed leaf of the outbox table: the 10 alarms behind it come through, the rows on
    that page are the only loss, and the report says how many (counted through an index)."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=2000, alarms=10)
    alarms = msg_ids(path, "alarm")
    leaves = pages(path, "outbox", "leaf")
    victim, cells = leaves[len(leaves) // 2]
    trash_page(path, victim)
    db = Database.open(path, [OUTBOX, kv.SCHEMA])
    report = db.report.salvage
    db.close()
    assert report is not None and not report.complete
    outbox = report.by_table()["outbox"]
    assert (outbox.expected, outbox.lost) == (2010, cells)
    assert msg_ids(path, "alarm") == alarms
    assert len(msg_ids(path, "state")) == 2000 - cells
    assert report.lost_possible("outbox") and not report.lost_possible("outbox_seq")
    assert Path(report.moved_to).exists() and db.report.recovered_from == Path(report.moved_to)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # AUTOINCREMENT's high-water mark came along: no id is ever handed out twice.
    assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone() == (
        2010,
    )
    conn.close()


def test_a_damaged_index_loses_nothing(tmp_path: Path) -> None:
    """A trashed index page: every row comes through and the index is rebuilt."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=0, alarms=10)
    (index_page, _), *_ = pages(path, "outbox_drain")
    trash_page(path, index_page)
    db = Database.open(path, [OUTBOX, kv.SCHEMA])
    report = db.report.salvage
    db.close()
    assert report is not None and report.complete
    assert report.by_table()["outbox"].recovered == 10
    assert len(msg_ids(path, "alarm")) == 10


def test_a_damaged_interior_page_loses_a_span_and_says_so(tmp_path: Path) -> None:
    """A trashed interior page hides all the leaves under it (SQL cannot reach them): the
    rows outside its key range are recovered (the reader probes past the damage) and
    recovered + lost = what the index counted."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=30_000, payload=60)
    interior = pages(path, "outbox", "internal")
    assert len(interior) >= 3, interior
    trash_page(path, interior[len(interior) // 2][0])
    report = salvage(path, "test", T0)
    outbox = report.by_table()["outbox"]
    assert outbox.expected == 30_000
    assert outbox.lost is not None and 0 < outbox.lost < 30_000
    assert outbox.recovered + outbox.lost == 30_000
    ids = msg_ids(path, "state")
    assert len(ids) == outbox.recovered and set(ids) <= {f"{i:032x}" for i in range(30_000)}


def test_an_unreadable_schema_starts_afresh_and_reports_it(tmp_path: Path) -> None:
    """Page 1 (the schema) trashed: nothing can be read by SQL; the report says so, the
    damaged file is kept aside and the daemon runs on a fresh file."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=50)
    trash_page(path, 1)
    db = Database.open(path, [OUTBOX, kv.SCHEMA])
    report = db.report.salvage
    assert report is not None and not report.complete and report.problems
    assert report.lost_possible("outbox")
    assert db.run_sync(lambda c: c.execute("SELECT count(*) FROM outbox").fetchone()[0]) == 0
    db.close()
    assert Path(report.moved_to).exists()


def test_a_healthy_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=10)
    db = Database.open(path, [OUTBOX, kv.SCHEMA])
    assert db.report.salvage is None and db.report.recovered_from is None
    assert db.report.check is not None and db.report.check.status.value == "ok"
    db.close()


SALVAGE_IN_CHILD = """
import sys
from pathlib import Path
from edge.storage import Database, kv
from edge.uplink.outbox import SCHEMA
Database.open(Path(sys.argv[1]), [SCHEMA, kv.SCHEMA])
"""


def test_kill_9_during_salvage_then_the_next_open_completes_it(tmp_path: Path) -> None:
    """A salvage killed half-way (SIGKILL while it writes the new file): the next open sees
    the marker, throws the half-built file away, salvages again, and loses nothing more."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=150_000, alarms=10, payload=200)
    leaves = pages(path, "outbox", "leaf")
    victim, cells = leaves[len(leaves) // 3]
    trash_page(path, victim)
    paths = SalvagePaths(path)
    child = subprocess.Popen([sys.executable, "-c", SALVAGE_IN_CHILD, str(path)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (paths.tmp.exists() and paths.tmp.stat().st_size > 1_000_000):
        assert child.poll() is None, "the salvage finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert paths.marker.exists() and path.exists()  # half-done, the damaged file in place
    assert msgspec.json.decode(paths.marker.read_bytes())["phase"] == "building"
    db = Database.open(path, [OUTBOX, kv.SCHEMA])
    report = db.report.salvage
    db.close()
    assert report is not None and report.resumed
    assert report.by_table()["outbox"].lost == cells
    assert len(msg_ids(path, "alarm")) == 10
    assert not paths.marker.exists() and not paths.tmp.exists()


def test_a_salvage_killed_after_building_is_finished_not_redone(tmp_path: Path) -> None:
    """Killed between 'built' and the renames: the next open only does the renames (the
    damaged file may or may not have been moved yet) and returns the saved figures."""
    for moved_already in (False, True):
        path = tmp_path / f"edged{int(moved_already)}.db"
        fill_outbox(path, rows=500, alarms=10)
        trash_page(path, pages(path, "outbox", "leaf")[2][0])
        paths = SalvagePaths(path)
        moved_to = path.with_name(path.name + ".corrupt-x")
        tables, problems = build(path, paths.tmp, lambda: None)
        report = SalvageReport("test", str(moved_to), tuple(tables), tuple(problems))
        _write_marker(paths.marker, _Marker("built", "test", str(moved_to), report))
        if moved_already:
            os.replace(path, moved_to)
        db = Database.open(path, [OUTBOX, kv.SCHEMA])
        got = db.report.salvage
        assert db.report.check is not None and db.report.check.status.value == "ok"
        db.close()
        assert got is not None and got.resumed and got.tables == report.tables
        assert moved_to.exists() and not paths.marker.exists() and not paths.tmp.exists()
        assert len(msg_ids(path, "alarm")) == 10


@given(st.binary(max_size=400))
def test_a_marker_of_any_bytes_never_raises(data: bytes) -> None:
    """A marker is read after a crash: any content is either a marker or None (start over)."""
    marker = decode_marker(data)
    assert marker is None or marker.phase in ("building", "built")


@given(
    st.builds(
        _Marker,
        phase=st.sampled_from(["building", "built"]),
        reason=st.text(max_size=40),
        moved_to=st.text(max_size=40),
    )
)
def test_a_marker_round_trips(marker: _Marker) -> None:
    assert decode_marker(msgspec.json.encode(marker)) == marker


NOTES = Schema("notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"])


@settings(max_examples=40)
@given(
    sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=300),
    victim=st.integers(0, 10_000),
)
def test_salvage_never_invents_and_accounts_for_every_row(sizes: list[int], victim: int) -> None:
    """Random rows, one random page trashed: every recovered row is an original row,
    unchanged, and recovered + lost = the rows the file had (when it could count them)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        conn = connect(path)
        migrate(conn, NOTES)
        rows = {i + 1: bytes([i % 251]) * n for i, n in enumerate(sizes)}
        conn.executemany("INSERT INTO notes(id, body) VALUES (?, ?)", list(rows.items()))
        conn.close()
        checkpoint(path)
        count = path.stat().st_size // 4096
        trash_page(path, 2 + victim % max(1, count - 1))
        report = salvage(path, "test", T0)
        conn = sqlite3.connect(path)
        try:
            got = dict(conn.execute("SELECT id, body FROM notes").fetchall())
        except sqlite3.Error:
            got = {}
        conn.close()
        assert all(rows[i] == body for i, body in got.items())
        notes = report.by_table().get("notes")
        if notes is not None and notes.expected is not None:
            assert notes.recovered == len(got)
            assert notes.recovered + (notes.lost or 0) == notes.expected
