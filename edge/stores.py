"""Stores: everything that lives as long as the daemon, built once, in order, first.

Components (workers) get the stores they use as constructor arguments and subscribe to
their topics for the length of their own run. A store never reaches for a component,
so a worker restarted after a crash or replaced by a reload is a fresh instance that
finds every store as it left it.

Order: the database (opened, salvaged, migrated), then the point table and the bus
registry, the reconciler (the one writer to outputs, with its wanted tables), bookings,
overrides, the automation's and emergency's state, the journal, the alarm engine, the
counters and the outbox (its committer runs while the stores are open).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from edge.access.loss import CountsLoss
from edge.access.records import AccessEvent
from edge.alarms import AlarmEngine, configure_engine
from edge.automation.emergency import EmergencyState
from edge.automation.overrides import OverrideStore
from edge.automation.reconciler import Reconciler
from edge.automation.state import AutomationState
from edge.bookings.store import BookingStore
from edge.clock import Clock
from edge.counters import Counters
from edge.counters import counted_outputs as outputs_with_counted_roles
from edge.energy import BookingEnergy, EnergyInterval
from edge.field.buses import BusRegistry
from edge.field.points import PointTable
from edge.journal import SCHEMA as JOURNAL_SCHEMA
from edge.journal import Journal
from edge.liveness import Liveness
from edge.storage import Database
from edge.storage.db import finish
from edge.topic import Topic
from edge.uplink.config import outbox_config
from edge.uplink.link import LinkState
from edge.uplink.outbox import Outbox
from edge.venue import Venue

log = structlog.get_logger("edge.stores")

EnergyRecord = EnergyInterval | BookingEnergy
OUTBOX_ALLOWANCE_S = 30.0
"""The committer beats every second while alive; a commit hung this long on the disk
withholds the watchdog (systemd restarts edged)."""


@dataclass(frozen=True)
class Stores:
    db: Database
    points: PointTable
    buses: BusRegistry
    outputs: Reconciler
    """The one writer to outputs (its loop runs as the `reconciler` component)."""
    bookings: BookingStore
    overrides: OverrideStore
    automation: AutomationState
    emergency: EmergencyState
    journal: Journal
    alarms: AlarmEngine
    counters: Counters
    outbox: Outbox
    link: LinkState
    access_loss: CountsLoss
    """When pass entry counts may have been lost (counted passes from before fail closed)."""
    access: Topic[AccessEvent]
    """Every access decision (the gates publish; journal, automation and uplink listen)."""
    energy: Topic[EnergyRecord]
    """Every energy record (the energy component publishes; journal and uplink listen)."""

    def subscriptions(self) -> dict[str, int]:
        """Live subscriber count per topic (a restarted component must not add any)."""
        topics = (
            self.points.events,
            self.outputs.writes,
            self.bookings.changes,
            self.overrides.changes,
            self.emergency.changes,
            self.journal.entries,
            self.alarms.events,
            self.access,
            self.energy,
        )
        return {t.name: t.subscribers for t in topics}


@asynccontextmanager
async def open_stores(
    venue: Venue,
    clock: Clock,
    *,
    liveness: Liveness | None = None,
    extend_timeout: Callable[[float], object] | None = None,
) -> AsyncIterator[Stores]:
    """Open every store for `venue`; on exit flush what is pending and close the file.

    `extend_timeout` (systemd's EXTEND_TIMEOUT_USEC) is called while a long check or
    salvage runs at open; the outbox's committer beats `liveness` as `outbox`.
    """
    cfg = venue.config
    path = Path(cfg.storage.dir) / "edged.db"
    db = await asyncio.to_thread(
        functools.partial(Database.open, path, extend_timeout=extend_timeout)
    )
    beat = None
    if liveness is not None:
        live = liveness
        live.register("outbox", allowance_s=OUTBOX_ALLOWANCE_S)
        beat = functools.partial(live.beat, "outbox")
    try:
        points = PointTable()
        buses = BusRegistry()
        outputs = Reconciler(clock, points, buses.write, db=db)
        await outputs.restore_pulses()
        bookings = await BookingStore.open(db)
        overrides = await OverrideStore.open(db, clock)
        automation = await AutomationState.open(db)
        emergency = await EmergencyState.open(db, clock)
        journal = Journal(db, clock)
        await db.migrate(JOURNAL_SCHEMA)
        alarms = AlarmEngine(db, clock, {})
        configure_engine(alarms, cfg.alarms)
        await alarms.load()
        counters = await Counters.open(db, clock, counted_outputs(venue))
        access_loss = await CountsLoss.open(db, clock)
        async with Outbox(db, clock, outbox_config(cfg.uplink), beat=beat) as outbox:
            stores = Stores(
                db=db,
                points=points,
                buses=buses,
                outputs=outputs,
                bookings=bookings,
                overrides=overrides,
                automation=automation,
                emergency=emergency,
                journal=journal,
                alarms=alarms,
                counters=counters,
                outbox=outbox,
                link=LinkState(),
                access_loss=access_loss,
                access=Topic("access"),
                energy=Topic("energy"),
            )
            try:
                yield stores
            finally:
                # Runs to its end even through a cancellation: the file closes after it.
                await finish(asyncio.ensure_future(_flush(stores)))
    finally:
        if liveness is not None:
            liveness.unregister("outbox")
        await asyncio.to_thread(db.close)


def counted_outputs(venue: Venue) -> list[str]:
    """The on/off outputs whose run hours and switch cycles are counted."""
    return outputs_with_counted_roles(venue.roles)


async def _flush(stores: Stores) -> None:
    for flush in (stores.journal.flush, stores.alarms.flush, stores.counters.flush):
        try:
            await flush()
        except Exception:  # what could not be written is logged by each store
            log.exception("store_flush_failed")
