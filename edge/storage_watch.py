"""The database as the operator sees it: `storage_error` alarms and journal lines for what
the database reports, and the watch that notices a file deleted under the running daemon.

`StorageAlarms` listens for the daemon's whole life (`with StorageAlarms(stores):`), so a
failure while a component restarts is never missed. `StorageWatch` is the `storage`
component: it checks the file's identity every few seconds (a deleted or replaced file is
recreated by the database), probes with a tiny commit while writes fail, and runs the full
integrity check once, in the background, after start-up; it is liveness-registered, so a
watch hung on the disk stops the watchdog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from edge.alarms.service import report_database_open
from edge.alarms.system import storage_problem
from edge.clock import Clock
from edge.journal import Entry
from edge.liveness import Liveness
from edge.storage import StorageError, kv
from edge.storage.db import OpenReport
from edge.storage.events import (
    FileRecreated,
    HealthState,
    IntegrityProblem,
    StorageEvent,
    StorageFailing,
    StorageRecovered,
)
from edge.stores import Stores

log = structlog.get_logger("edge.storage")

SOURCE = "database"
WATCH_INTERVAL_S = 5.0
FULL_CHECK_DELAY_S = 30.0
"""After READY, so the check's reads do not slow the first polls and the first commits."""


class StorageAlarms:
    """Database events -> `storage_error` (source `database`) and the journal."""

    def __init__(self, stores: Stores, clock: Clock) -> None:
        self._stores = stores
        self._clock = clock
        self._unhook: Callable[[], None] | None = None

    def __enter__(self) -> StorageAlarms:
        self._unhook = self._stores.db.subscribe(self.on_event)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._unhook is not None:
            self._unhook()
            self._unhook = None

    def report_open(self, report: OpenReport) -> None:
        """A file salvaged at open: a `returned` storage_error to acknowledge, and the
        salvage figures (rows recovered and lost per table) in the journal."""
        if report.recovered_from is None:
            return
        report_database_open(self._stores.alarms, report)
        salvage = report.salvage
        self._journal(
            "salvaged",
            {
                "reason": report.reason,
                "moved_to": str(report.recovered_from),
                "tables": {
                    t.table: {"recovered": t.recovered, "lost": t.lost}
                    for t in (salvage.tables if salvage else ())
                },
                "problems": list(salvage.problems) if salvage else [],
                "complete": salvage.complete if salvage else False,
            },
        )

    def on_event(self, event: StorageEvent) -> None:
        match event:
            case StorageFailing(health=health):
                storage_problem(self._report, SOURCE, f"writes fail: {health.last_error}")
                self._journal("failing", {"error": health.last_error})
            case StorageRecovered(failed_for_s=seconds):
                storage_problem(self._report, SOURCE, None)
                self._journal("recovered", {"failed_for_s": round(seconds, 1)})
            case FileRecreated() as recreated:
                what = "copied from the open file" if recreated.copied else "rebuilt from memory"
                self._raise_and_return(
                    f"database file {recreated.reason} while running; recreated ({what})"
                )
                self._journal(
                    f"file_{recreated.reason}",
                    {
                        "copied": recreated.copied,
                        "foreign_moved_to": str(recreated.foreign_moved_to or ""),
                        "detail": recreated.detail,
                    },
                )
            case IntegrityProblem(detail=detail):
                # Stays active: the next start salvages the file.
                storage_problem(
                    self._report, SOURCE, f"integrity check found damage: {detail}; "
                    "restart edged to salvage it",
                )  # fmt: skip
                self._journal("damaged", {"detail": detail})

    def _report(self, *args: Any, **kwargs: Any) -> None:
        self._stores.alarms.report(*args, **kwargs)

    def _raise_and_return(self, detail: str) -> None:
        storage_problem(self._report, SOURCE, detail)
        storage_problem(self._report, SOURCE, None)

    def _journal(self, what: str, body: dict[str, Any]) -> None:
        self._stores.journal.record(
            Entry(
                ts=self._clock.now(), kind="storage", subject=what,
                actor="edged", actor_kind="system", body=body,
            )
        )  # fmt: skip


class StorageWatch:
    """The `storage` component: the file watch, and the full integrity check once."""

    name = "storage"

    def __init__(self, stores: Stores, clock: Clock, liveness: Liveness) -> None:
        self._db = stores.db
        self._clock = clock
        self._liveness = liveness

    async def run(self, ready: Callable[[], None]) -> None:
        self._liveness.register(self.name, allowance_s=max(30.0, 6 * WATCH_INTERVAL_S))
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._full_check_later(), name="storage.full_check")
                ready()
                while True:
                    self._liveness.beat(self.name)
                    await self._clock.sleep(WATCH_INTERVAL_S)
                    try:
                        await self._db.check_file()
                        if self._db.health.state is HealthState.FAILING:
                            await self._probe()
                    except StorageError as exc:
                        log.error("storage_check_file_failed", error=str(exc))
        finally:
            self._liveness.unregister(self.name)

    async def _probe(self) -> None:
        """While failing, a tiny commit every few seconds: a quiet venue (nothing else
        writing) still notices when space returns and clears the alarm."""
        stamp = self._clock.now().isoformat()
        await self._db.transaction(lambda conn: kv.put(conn, "storage.probe", stamp))

    async def _full_check_later(self) -> None:
        if self._db.report.salvage is not None:
            return  # just rebuilt: every page was written now
        await self._clock.sleep(FULL_CHECK_DELAY_S)
        try:
            await self._db.full_check()
        except Exception:  # a check that cannot run is logged; it must not stop the watch
            log.exception("storage_full_check_failed")
