"""Start-up is bounded: a quick check within a budget, the full check in the background,
systemd asked for more time while a long check or salvage runs, clear directory messages."""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.notify import Notifier
from edge.storage import Database, IntegrityProblem, StorageError, StorageEvent, kv
from edge.storage.check import CheckStatus, run_check
from edge.storage.db import open_checked
from edge.storage.keepalive import Keepalive
from edge.storage.preflight import PathFacts, explain, probe_state_dir, state_dir_problems
from tests.foundation.notify_socket import NotifySocket
from tests.storage.damage import checkpoint, pages, trash_page
from tests.storage.disks import SmallDisk
from tests.storage.test_salvage import fill_outbox


def test_the_quick_check_stops_at_its_budget(tmp_path: Path) -> None:
    """A check that would take longer than its budget is stopped: UNFINISHED, not DAMAGED."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=40_000)
    outcome = run_check(path, "quick_check", budget_s=0.001)
    assert outcome.status is CheckStatus.UNFINISHED
    assert run_check(path, "quick_check", budget_s=None).status is CheckStatus.OK


def test_small_tables_are_checked_even_when_a_big_one_eats_the_budget(tmp_path: Path) -> None:
    """A damaged small table (the kind holding pass counts) is found within a budget far too
    short for the big outbox table: each table gets its own slice first."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=200_000, payload=100)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE zz_passes (id INTEGER PRIMARY KEY, entries INTEGER)")
    conn.executemany("INSERT INTO zz_passes(entries) VALUES (?)", [(i,) for i in range(1000)])
    conn.commit()
    conn.close()
    checkpoint(path)
    # Far too short for the big table on a slow or loaded machine; a fast one may finish.
    before = run_check(path, "quick_check", budget_s=0.05).status
    assert before in (CheckStatus.UNFINISHED, CheckStatus.OK)
    trash_page(path, pages(path, "zz_passes", "leaf")[1][0])
    outcome = run_check(path, "quick_check", budget_s=0.05)
    assert outcome.status is CheckStatus.DAMAGED and "zz_passes" in (outcome.detail or "")


async def test_damage_the_bounded_check_missed_is_found_in_the_background(
    tmp_path: Path,
) -> None:
    """Budget spent before the damage was reached: the daemon starts, and the full check,
    run afterwards on its own connection while writes go on, emits an IntegrityProblem."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=40_000)
    trash_page(path, pages(path, "outbox", "leaf")[-1][0])
    db = Database.open(path, [kv.SCHEMA], check_budget_s=0.001)
    assert db.report.check is not None and db.report.check.status is CheckStatus.UNFINISHED
    assert db.report.salvage is None
    heard: list[StorageEvent] = []
    db.subscribe(heard.append)
    await db.transaction(lambda c: kv.put(c, "still", "writable"))
    problem = await db.full_check()
    db.close()
    assert isinstance(problem, IntegrityProblem) and heard == [problem]
    # The next start (no budget limit) salvages it.
    db = Database.open(path, [kv.SCHEMA], check_budget_s=None)
    assert db.report.salvage is not None
    assert db.run_sync(lambda c: kv.get(c, "still")) == "writable"
    db.close()


async def test_a_healthy_file_passes_the_full_check(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA])
    assert await db.full_check() is None
    db.close()


def test_systemd_is_asked_for_more_time_during_a_long_salvage(tmp_path: Path) -> None:
    """While the check and salvage run, EXTEND_TIMEOUT_USEC goes to $NOTIFY_SOCKET."""
    sock = NotifySocket(tmp_path / "notify")
    notifier = Notifier(str(sock.path))
    try:
        path = tmp_path / "edged.db"
        fill_outbox(path, rows=20_000)
        trash_page(path, pages(path, "outbox", "leaf")[5][0])
        keepalive = Keepalive(notifier.extend_timeout, every_s=0.0, grant_s=20.0)
        conn, report = open_checked(path, keepalive=keepalive)
        conn.close()
        assert report.salvage is not None and report.extensions == keepalive.sent > 0
        sock.wait_for("EXTEND_TIMEOUT_USEC=20000000")
    finally:
        notifier.close()
        sock.close()


def test_a_quick_start_asks_for_no_extension(tmp_path: Path) -> None:
    extended: list[float] = []
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA], extend_timeout=extended.append)
    db.close()
    db = Database.open(tmp_path / "e.db", [kv.SCHEMA], extend_timeout=extended.append)
    db.close()
    assert extended == [] and db.report.extensions == 0


# ---------------------------------------------------------------------- messages


def test_a_missing_state_directory_that_cannot_be_created_names_the_fix(
    small_disk: SmallDisk,
) -> None:
    """The state directory lies on a read-only filesystem and does not exist: the message
    names the directory and the unit setting (ReadWritePaths= outside /var/lib)."""
    small_disk.remount_read_only()
    state = small_disk.path / "edged"
    with pytest.raises(StorageError) as caught:
        Database.open(state / "edged.db")
    text = str(caught.value)
    assert str(state) in text and "ReadWritePaths=" + str(state) in text


def test_a_read_only_state_directory_names_the_directory_and_the_setting(
    small_disk: SmallDisk,
) -> None:
    """An existing database on a filesystem that went read-only: a clear error at open."""
    checkpoint_path = small_disk.path / "edged.db"
    db = Database.open(checkpoint_path, [kv.SCHEMA])
    db.close()
    checkpoint(checkpoint_path)
    small_disk.remount_read_only()
    problems = state_dir_problems(small_disk.path)
    assert [p.code for p in problems] == ["state_dir_read_only_fs"]
    with pytest.raises(StorageError) as caught:
        Database.open(checkpoint_path, [kv.SCHEMA])
    assert str(small_disk.path) in str(caught.value) and "read-only" in str(caught.value)


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("oops")
    problems = state_dir_problems(tmp_path / "state")
    assert [p.code for p in problems] == ["state_dir_not_a_directory"]


def test_a_writable_directory_has_no_problem(tmp_path: Path) -> None:
    facts = probe_state_dir(tmp_path)
    assert facts.writable and explain(facts) == []
    assert list(tmp_path.iterdir()) == []  # the write test left nothing behind


BASE = PathFacts(
    dir="/var/lib/edged", exists=True, is_dir=True, writable=True, write_errno=None,
    fs_read_only=False, owner="edge", mode=0o750, user="edge", db_name="edged.db",
    db_exists=True, db_writable=True, db_errno=None, db_owner="edge", db_mode=0o640,
)  # fmt: skip


def test_messages_for_each_case_name_the_path_and_the_fix() -> None:
    """Missing, read-only mount, wrong owner, read-only database file: one message each."""
    cases = {
        "state_dir_missing": replace(BASE, exists=False, is_dir=False, writable=False),
        "state_dir_read_only_fs": replace(BASE, writable=False, write_errno=errno.EROFS,
                                          fs_read_only=True),
        "state_dir_not_writable": replace(BASE, writable=False, write_errno=errno.EACCES,
                                          owner="root"),
        "database_read_only": replace(BASE, db_writable=False, db_errno=errno.EACCES,
                                      db_owner="root"),
        "database_sidecar_read_only": replace(BASE, read_only_sides=("edged.db-wal",)),
    }  # fmt: skip
    for code, facts in cases.items():
        problems = explain(facts)
        assert [p.code for p in problems] == [code]
        text = str(problems[0])
        assert "/var/lib/edged" in text
        assert "StateDirectory=edged" in text, text
    text = str(explain(cases["state_dir_not_writable"])[0])
    assert "user edge" in text and "owner root" in text and "Permission denied" in text


@given(
    dir=st.sampled_from(["/var/lib/edged", "/var/lib/", "/srv/edge state", "", "/var/lib/a/b"]),
    exists=st.booleans(), is_dir=st.booleans(), writable=st.booleans(),
    write_errno=st.none() | st.sampled_from([errno.EROFS, errno.EACCES, errno.ENOSPC, 9999]),
    fs_ro=st.booleans(), db_exists=st.booleans(), db_writable=st.booleans(),
    db_errno=st.none() | st.sampled_from([errno.EACCES, errno.EROFS, 0]),
    sides=st.lists(st.sampled_from(["edged.db-wal", "edged.db-shm"]), max_size=2),
    user=st.text(max_size=12),
)  # fmt: skip
def test_explain_never_raises_and_always_names_the_directory(
    dir: str, exists: bool, is_dir: bool, writable: bool, write_errno: int | None,
    fs_ro: bool, db_exists: bool, db_writable: bool, db_errno: int | None,
    sides: list[str], user: str,
) -> None:  # fmt: skip
    """Any combination of facts gives problems that name the directory and a unit setting."""
    facts = PathFacts(dir, exists, is_dir, writable, write_errno, fs_ro, "root", 0o755, user,
                      "edged.db", db_exists, db_writable, db_errno, "root", 0o600,
                      tuple(sides))  # fmt: skip
    for problem in explain(facts):
        assert dir in problem.message or dir in problem.path
        assert "StateDirectory=" in problem.hint or "ReadWritePaths=" in problem.hint
    if not exists or not is_dir:
        assert explain(facts)


def test_quick_check_does_not_salvage_a_file_locked_by_another_process(tmp_path: Path) -> None:
    """Another edged holds the write lock: that is not damage, and nothing is salvaged."""
    path = tmp_path / "edged.db"
    fill_outbox(path, rows=10)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError):
            Database.open(path, [kv.SCHEMA])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not list(tmp_path.glob("edged.db.corrupt-*"))
