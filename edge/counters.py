"""Run hours and switch cycles per on/off output: the wear that predicts maintenance.

Fed by the reconciler's `WriteRecord`s (what was written and read back) and by point
updates (changes made at a panel count too). A cycle is one off->on transition of the
observed state, whatever caused it; run time accumulates while the observed state is
on, on the monotonic clock, only while the daemon runs (time it was down is unknown,
so it is not counted). Updates are kept in memory and written in one batch every
`flush_s` and at shutdown: cheap on an SD card. `reset(output)` after maintenance.

`Counters` is a store (the counts outlive any component); `CounterWorker` is the
per-config worker that feeds it from the point table and the reconciler's writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog

from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from edge.automation.reconciler import Reconciler, WriteRecord
from edge.clock import Clock
from edge.field.points import PointTable
from edge.roles import RoleMap
from edge.storage import Database, Schema

log = structlog.get_logger("edge.counters")

SCHEMA = Schema(
    component="counters",
    steps=[
        """
        CREATE TABLE counters (
            output TEXT PRIMARY KEY,
            cycles INTEGER NOT NULL,
            run_s REAL NOT NULL,
            since TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    ],
)
READABLE = (Quality.GOOD, Quality.UNCERTAIN)


@dataclass
class _Counter:
    cycles: int
    run_s: float
    since: datetime
    """When counting started (first seen or last reset)."""
    state: bool | None = None
    """Last observed on/off state; None = unknown (startup, device offline)."""
    on_at: float | None = None
    """Monotonic instant from which run time not yet added has accrued."""


def as_on(value: object) -> bool | None:
    """An output's value as on/off: bools, and numbers (a dim level > 0 is on)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value == value:
        return value > 0
    return None


class Counters:
    """The store. Create with `await Counters.open(db, clock, outputs)`."""

    def __init__(self, db: Database, clock: Clock, outputs: Iterable[str] = ()) -> None:
        self._db = db
        self._clock = clock
        self._outputs = frozenset(outputs)
        self._counters: dict[str, _Counter] = {}
        self._dirty: set[str] = set()

    @classmethod
    async def open(cls, db: Database, clock: Clock, outputs: Iterable[str] = ()) -> Counters:
        store = cls(db, clock, outputs)
        await store.load()
        return store

    @property
    def outputs(self) -> frozenset[str]:
        return self._outputs

    def configure(self, outputs: Iterable[str]) -> None:
        """The on/off outputs to count (from the config in force)."""
        self._outputs = frozenset(outputs)

    # ---- inputs ----------------------------------------------------------------
    def on_write(self, record: WriteRecord) -> None:
        """Reconciler callback: the read-back value after a write is an observation."""
        if record.output not in self._outputs or record.result is None:
            return
        if record.result.quality in READABLE and record.result.value is not None:
            self.observe(record.output, as_on(record.result.value))

    def on_event(self, event: BusEvent) -> None:
        """PointTable listener: read-back values; an offline device's state becomes unknown."""
        if isinstance(event, PointUpdate):
            ref = f"{event.device}.{event.point}"
            if ref in self._outputs:
                good = event.quality in READABLE and event.value is not None
                self.observe(ref, as_on(event.value) if good else None)
        elif isinstance(event, DeviceStatus) and not event.online:
            prefix = f"{event.device}."
            for ref in self._outputs:
                if ref.startswith(prefix):
                    self.observe(ref, None)

    def observe(self, output: str, state: bool | None) -> None:
        """The output is on/off (None: unknown) now."""
        mono = self._clock.monotonic()
        c = self._counters.get(output)
        if c is None:
            c = self._counters[output] = _Counter(0, 0.0, self._clock.now())
            self._dirty.add(output)
        self._accrue(output, c, mono)
        if state is True and c.state is False:
            c.cycles += 1
            self._dirty.add(output)
        c.state = state  # None (unknown) stops the run-time count until seen again
        c.on_at = mono if c.state else None

    def _accrue(self, output: str, c: _Counter, mono: float) -> None:
        if c.state and c.on_at is not None:
            c.run_s += max(0.0, mono - c.on_at)
            c.on_at = mono
            self._dirty.add(output)

    def reset(self, output: str) -> None:
        """Maintenance done: start counting from zero (clears `maintenance_due`)."""
        c = self._counters.get(output)
        if c is None:
            raise KeyError(f"no counters for {output!r}; known: {sorted(self._counters)}")
        c.cycles, c.run_s, c.since = 0, 0.0, self._clock.now()
        c.on_at = self._clock.monotonic() if c.state else None
        self._dirty.add(output)

    # ---- queries -----------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, float]]:
        """output -> {"run_hours", "cycles"} including run time accrued up to now."""
        mono = self._clock.monotonic()
        out: dict[str, dict[str, float]] = {}
        for output, c in sorted(self._counters.items()):
            self._accrue(output, c, mono)
            out[output] = {"run_hours": c.run_s / 3600.0, "cycles": float(c.cycles)}
        return out

    def details(self) -> dict[str, dict[str, object]]:
        """For edgectl and `birth`: counts, since when, and the current state."""
        snap = self.snapshot()
        return {
            o: {**snap[o], "since": c.since.isoformat(), "on": c.state}
            for o, c in sorted(self._counters.items())
        }

    # ---- persistence ------------------------------------------------------------
    async def load(self) -> None:
        await self._db.migrate(SCHEMA)

        def read(conn: sqlite3.Connection) -> list[tuple[str, int, float, str]]:
            return conn.execute("SELECT output, cycles, run_s, since FROM counters").fetchall()

        for output, cycles, run_s, since in await self._db.run(read):
            self._counters[output] = _Counter(
                int(cycles), float(run_s), datetime.fromisoformat(since)
            )

    async def flush(self) -> None:
        mono = self._clock.monotonic()
        for output, c in self._counters.items():
            self._accrue(output, c, mono)
        ids, self._dirty = self._dirty, set()
        now = self._clock.now().isoformat()
        rows = [
            (o, self._counters[o].cycles, self._counters[o].run_s,
             self._counters[o].since.isoformat(), now)
            for o in sorted(ids) if o in self._counters
        ]  # fmt: skip
        if not rows:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO counters(output, cycles, run_s, since, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(output) DO UPDATE SET "
                "cycles = excluded.cycles, run_s = excluded.run_s, since = excluded.since, "
                "updated_at = excluded.updated_at",
                rows,
            )

        try:
            await self._db.transaction(write)
        except BaseException:  # cancelled too: the idempotent write is redone
            self._dirty |= ids
            raise


class CounterWorker:
    """Feeds `Counters` from point updates and writes, and flushes it every `flush_s`."""

    name = "counters"

    def __init__(
        self,
        counters: Counters,
        points: PointTable,
        reconciler: Reconciler,
        clock: Clock,
        flush_s: float = 60.0,
    ) -> None:
        self._counters = counters
        self._points = points
        self._reconciler = reconciler
        self._clock = clock
        self._flush_s = flush_s

    async def run(self, ready: Callable[[], None]) -> None:
        counters = self._counters
        with (
            self._points.subscribe(counters.on_event),
            self._reconciler.writes.subscribe(counters.on_write),
        ):
            ready()
            try:
                while True:
                    await self._clock.sleep(self._flush_s)
                    try:
                        await counters.flush()
                    except Exception:
                        log.exception("counters_flush_failed")
            finally:
                await asyncio.shield(counters.flush())


COUNTED_ROLES = ("lighting.switch", "hvac.enable", "gate.relay")
"""On/off outputs whose wear is worth counting: light channels, HVAC on/off, gate relays."""


def counted_outputs(roles: RoleMap) -> list[str]:
    """Every output with a counted role."""
    return sorted({p.ref for role in COUNTED_ROLES for p in roles.points(role)})
