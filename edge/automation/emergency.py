"""Emergency linkage (life safety): the fire panel's alarm drives outputs directly.

This path is deliberately short. The life-safety table (egress gates open, lights
full, air per device policy) is computed once at start; a fire-alarm point update
goes from the bus callback straight to the reconciler's life-safety table, in the
same loop turn, with no rule evaluation, no database and no uplink on the way. The
latch holds until the panel has cleared AND someone resets it. The latch is also
saved (best effort) so that a restart during an emergency keeps the venue safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from drivers.modbus.events import BusEvent, PointUpdate, Quality
from edge.automation.reconciler import Reconciler, Want
from edge.clock import Clock
from edge.field.points import PointTable
from edge.storage import Database, kv
from rules import emergency_outputs
from rules.model import Site

log = structlog.get_logger("edge.emergency")


class ResetRefused(Exception):
    """The panel still reports an alarm: the emergency cannot be reset yet."""


class EmergencyWatcher:
    def __init__(
        self,
        site: Site,
        clock: Clock,
        points: PointTable,
        reconciler: Reconciler,
        on_change: Callable[[bool, str], None] | None = None,
        latched_since: datetime | None = None,
    ) -> None:
        self._clock = clock
        self._points = points
        self._reconciler = reconciler
        self._on_change = on_change
        self._alarms = {a.point: a.active for a in site.emergency.alarms}
        self._table = {
            out: Want(value, "life_safety", "emergency:fire-panel")
            for out, value in emergency_outputs(site.emergency, site.zones).items()
        }
        self.latched_since: datetime | None = None
        self.last_trigger_mono: float | None = None
        self.reset_at: datetime | None = None
        self.close = points.subscribe(self._on_event)
        if latched_since is not None:
            self._latch(latched_since, "restored after restart")

    @property
    def active(self) -> bool:
        return self.latched_since is not None

    def alarm_points(self) -> dict[str, object]:
        return {p: (s.value if (s := self._points.get(p)) else None) for p in self._alarms}

    def panel_in_alarm(self) -> bool:
        for point, active in self._alarms.items():
            state = self._points.get(point)
            if state is not None and state.quality == Quality.GOOD and state.value == active:
                return True
        return False

    def _on_event(self, event: BusEvent) -> None:
        if not isinstance(event, PointUpdate):
            return
        ref = f"{event.device}.{event.point}"
        active = self._alarms.get(ref)
        if active is None or self.latched_since is not None:
            return
        if event.quality == Quality.GOOD and event.value == active:
            self.last_trigger_mono = self._clock.monotonic()
            self._latch(self._clock.now(), ref)

    def _latch(self, since: datetime, source: str) -> None:
        self.latched_since = since
        self._reconciler.set_life_safety(
            {out: Want(w.value, w.level, w.cause, since=since) for out, w in self._table.items()}
        )
        log.critical("emergency_latched", source=source, outputs=len(self._table))
        if self._on_change is not None:
            self._on_change(True, source)

    def reset(self, by: str) -> None:
        """Clear the latch; refused while the panel still reports an alarm."""
        if self.latched_since is None:
            return
        if self.panel_in_alarm():
            raise ResetRefused("the fire panel still reports an alarm; clear it at the panel first")
        self.latched_since = None
        self.reset_at = self._clock.now()
        self._reconciler.set_life_safety({})
        log.warning("emergency_reset", by=by)
        if self._on_change is not None:
            self._on_change(False, by)


LATCH_KEY = "emergency.latched_since"


class EmergencyComponent:
    """Hosts the watcher; restores a latch saved before a restart, saves changes."""

    name = "emergency"

    def __init__(
        self,
        site: Site,
        clock: Clock,
        points: PointTable,
        reconciler: Reconciler,
        db: Database,
        on_change: Callable[[bool, str], None] | None = None,
    ) -> None:
        self._notify = on_change
        self._site = site
        self._clock = clock
        self._points = points
        self._reconciler = reconciler
        self._db = db
        self.watcher: EmergencyWatcher | None = None
        self._saves: set[asyncio.Task[None]] = set()

    async def run(self, ready: Callable[[], None]) -> None:
        await self._db.migrate(kv.SCHEMA)
        saved = await self._db.run(lambda c: kv.get(c, LATCH_KEY))
        since = datetime.fromisoformat(saved) if saved else None
        self.watcher = EmergencyWatcher(
            self._site,
            self._clock,
            self._points,
            self._reconciler,
            on_change=self._save,
            latched_since=since,
        )
        ready()
        try:
            await asyncio.Event().wait()
        finally:
            self.watcher.close()
            self._reconciler.set_life_safety({})

    def _save(self, active: bool, source: str) -> None:
        if self._notify is not None:
            self._notify(active, source)
        # Best effort: the outputs were already commanded; the database only remembers.
        since = self.watcher.latched_since if self.watcher is not None else None
        value = since.isoformat() if active and since is not None else ""

        async def save() -> None:
            try:
                await self._db.run(lambda c: kv.put(c, LATCH_KEY, value))
            except Exception:
                log.exception("emergency_latch_not_saved")

        task = asyncio.create_task(save())
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)
