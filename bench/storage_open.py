"""Start -> usable on a 340 MB database: the bounded open next to the old full check.

    .venv/bin/python bench/storage_open.py [SIZE_MB] [--keep DIR]

Builds a database of about SIZE_MB (default 340) with realistic tables (the outbox with
queued state messages, the audit journal with its four indexes, kv), then measures:

- baseline: `PRAGMA integrity_check` on the same file, what every start used to run;
- `Database.open` (bounded quick check, migrations) plus the outbox's start (its counters are
  read from the table): start -> usable, the figure the daemon's READY waits for;
- the full integrity check the daemon then runs in the background;
- a salvage of the same file with one damaged outbox page (how long a damaged start takes).

Each is measured with the page cache dropped first when running as root (a cold start, as
after a reboot), else warm; the report says which. Time budget: the quick check stops after
QUICK_CHECK_BUDGET_S; systemd's start timeout is 90 s (extended while a salvage runs).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.clock import SimClock
from edge.journal import SCHEMA as JOURNAL
from edge.storage import Database, kv
from edge.storage.check import QUICK_CHECK_BUDGET_S
from edge.storage.connection import connect, migrate
from edge.storage.salvage import salvage
from edge.uplink.outbox import SCHEMA as OUTBOX
from edge.uplink.outbox import Outbox

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def build(path: Path, size_mb: float) -> None:
    """Outbox rows (~390 B each) and journal rows (~250 B plus four indexes) in equal parts."""
    conn = connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    for schema in (OUTBOX, JOURNAL, kv.SCHEMA):
        migrate(conn, schema)
    rng = random.Random(1)
    scale = size_mb / 340
    outbox_rows, journal_rows = int(300_000 * scale), int(450_000 * scale)
    conn.execute("BEGIN")
    for i in range(outbox_rows):
        payload = (
            b'{"stream":"state","seq":%d,"msg_id":"%032x","ts":"2026-05-01T08:00:00Z",'
            b'"points":[{"point":"hvac%d.temp","value":%.2f,"unit":"degC"}]}'
            % (i, rng.getrandbits(128), i % 40, rng.random() * 30)
        ) + b" " * 200
        conn.execute(
            "INSERT INTO outbox(prio, stream, seq, msg_id, created, live_session, evictable, "
            "payload) VALUES (4, 'state', ?, ?, ?, 1, 1, ?)",
            (i + 1, f"{i:032x}", 1.7e9 + i, payload),
        )
    for i in range(journal_rows):
        conn.execute(
            "INSERT INTO journal(ts, kind, subject, device, zone, booking, actor, body) "
            "VALUES (?, 'write', ?, ?, ?, ?, 'booking', ?)",
            (
                f"2026-05-01T08:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i:06d}+00:00",
                f"court-{i % 8}.lights",
                f"light{i % 8}",
                f"court-{i % 8}",
                f"B-{i // 50}",
                '{"value":1,"level":"on","cause":"booking","note":"%s"}'
                % ("x" * rng.randint(20, 120)),
            ),
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def damage(path: Path, pageno: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek((pageno - 1) * 4096)
        fh.write(b"\xde\xad" * 2048)


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def full_check(path: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    return time.perf_counter() - started


async def open_to_usable(path: Path) -> tuple[float, float, Database]:
    started = time.perf_counter()
    db = await asyncio.to_thread(Database.open, path, [OUTBOX, JOURNAL, kv.SCHEMA])
    opened = time.perf_counter() - started
    async with Outbox(db, SimClock(T0)) as box:
        usable = time.perf_counter() - started
        assert box.depth > 0
    return opened, usable, db


async def main(size_mb: float, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory(dir=keep) as tmp:
        path = Path(tmp) / "edged.db"
        t = time.perf_counter()
        build(path, size_mb)
        size = path.stat().st_size / 1e6
        print(f"built {size:.0f} MB in {time.perf_counter() - t:.1f} s: {path}")
        cold = drop_caches()
        print(f"page cache: {'dropped before each run (cold)' if cold else 'warm (not root)'}")

        for label in ("cold", "warm") if cold else ("warm",):
            if label == "cold":
                drop_caches()
            base = full_check(path)
            if label == "cold":
                drop_caches()
            opened, usable, db = await open_to_usable(path)
            check = db.report.check
            status = check.status.value if check else "?"
            if label == "cold":
                drop_caches()
            bg = time.perf_counter()
            problem = await db.full_check()
            bg_s = time.perf_counter() - bg
            db.close()
            print(f"[{label}] baseline: integrity_check at open        {base:7.2f} s")
            print(f"[{label}] bounded open: quick check {status} in "
                  f"{check.seconds if check else 0:.2f} s (budget {QUICK_CHECK_BUDGET_S} s); "
                  f"open {opened:.2f} s")  # fmt: skip
            print(f"[{label}] start -> usable (open + outbox counters)  {usable:7.2f} s  "
                  f"({usable / base:.2f} x baseline)")  # fmt: skip
            print(f"[{label}] background full check (after READY)       {bg_s:7.2f} s  "
                  f"problem={problem is not None}")  # fmt: skip

        conn = sqlite3.connect(path)
        leaf = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'outbox' AND pagetype = 'leaf' "
            "ORDER BY pageno LIMIT 1 OFFSET 1000"
        ).fetchone()[0]
        conn.close()
        damage(path, leaf)
        drop_caches()
        t = time.perf_counter()
        report = salvage(path, "bench", T0)
        took = time.perf_counter() - t
        rows = sum(x.recovered for x in report.tables)
        lost = {x.table: x.lost for x in report.tables if x.lost}
        print(f"salvage of the damaged file                 {took:7.2f} s  "
              f"({rows} rows recovered, lost {lost})")  # fmt: skip


if __name__ == "__main__":
    args = sys.argv[1:]
    keep_dir = None
    if "--keep" in args:
        keep_dir = Path(args[args.index("--keep") + 1])
        del args[args.index("--keep") : args.index("--keep") + 2]
    asyncio.run(main(float(args[0]) if args else 340.0, keep_dir))
