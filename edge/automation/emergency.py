"""Emergency linkage (life safety): the fire panel's alarm drives outputs directly.

This path is deliberately short. The life-safety table (egress gates open, lights
full, air per device policy) is computed once per config; a fire-alarm point update
goes from the bus callback straight to the reconciler's life-safety table, in the
same loop turn, with no rule evaluation, no database and no uplink on the way. The
latch (`EmergencyState`, a store) holds until the panel has cleared AND someone resets
it, and is saved (best effort) so that a restart during an emergency keeps the venue
safe. The watcher is the per-config worker; the latch outlives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog

from drivers.modbus.events import BusEvent, PointUpdate, Quality
from edge.automation.reconciler import Cause, Reconciler, Want
from edge.clock import Clock
from edge.field.points import PointTable
from edge.storage import Database, kv
from edge.topic import Topic
from rules import emergency_outputs
from rules.model import AlarmInput, Site

log = structlog.get_logger("edge.emergency")
LATCH_KEY = "emergency.latched_since"


class ResetRefused(Exception):
    """The panel still reports an alarm: the emergency cannot be reset yet."""


@dataclass(frozen=True, slots=True)
class EmergencyChange:
    active: bool
    source: str
    """The alarm point that latched it, or who reset it."""
    at: datetime


class EmergencyState:
    """The latch. Create with `await EmergencyState.open(db, clock)`."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.latched_since: datetime | None = None
        self.reset_at: datetime | None = None
        self.last_trigger_mono: float | None = None
        self.changes: Topic[EmergencyChange] = Topic("emergency")
        self._saves: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, db: Database, clock: Clock) -> EmergencyState:
        state = cls(db, clock)
        await db.migrate(kv.SCHEMA)
        saved = await db.run(lambda c: kv.get(c, LATCH_KEY))
        if saved:
            state.latched_since = datetime.fromisoformat(saved)
            log.critical("emergency_restored", since=saved)
        return state

    @property
    def active(self) -> bool:
        return self.latched_since is not None

    def latch(self, source: str) -> None:
        if self.latched_since is not None:
            return
        self.last_trigger_mono = self._clock.monotonic()
        self.latched_since = self._clock.now()
        log.critical("emergency_latched", source=source)
        self._save(self.latched_since.isoformat())
        self.changes.publish(EmergencyChange(True, source, self.latched_since))

    def reset(self, by: str) -> None:
        """Clear the latch (the caller checked that the panel has cleared)."""
        if self.latched_since is None:
            return
        self.latched_since = None
        self.reset_at = self._clock.now()
        log.warning("emergency_reset", by=by)
        self._save("")
        self.changes.publish(EmergencyChange(False, by, self.reset_at))

    def _save(self, value: str) -> None:
        # Best effort: the outputs are commanded already; the database only remembers.
        async def save() -> None:
            try:
                await self._db.run(lambda c: kv.put(c, LATCH_KEY, value))
            except Exception:
                log.exception("emergency_latch_not_saved")

        task = asyncio.create_task(save())
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)


def panel_in_alarm(alarms: Iterable[AlarmInput], points: PointTable) -> bool:
    for a in alarms:
        state = points.get(a.point)
        if state is not None and state.quality == Quality.GOOD and state.value == a.active:
            return True
    return False


def reset(state: EmergencyState, alarms: Iterable[AlarmInput], points: PointTable, by: str) -> None:
    """Clear the latch; refused while the panel still reports an alarm."""
    if panel_in_alarm(alarms, points):
        raise ResetRefused("the fire panel still reports an alarm; clear it at the panel first")
    state.reset(by)


def alarm_points(site: Site, points: PointTable) -> dict[str, object]:
    states = {a.point: points.get(a.point) for a in site.emergency.alarms}
    return {p: (s.value if s is not None else None) for p, s in states.items()}


class EmergencyWatcher:
    """The per-config worker: alarm points in, the life-safety table out."""

    name = "emergency"

    def __init__(
        self, site: Site, points: PointTable, reconciler: Reconciler, state: EmergencyState
    ) -> None:
        self._points = points
        self._reconciler = reconciler
        self._state = state
        self._alarms = {a.point: a.active for a in site.emergency.alarms}
        self._table = emergency_outputs(site.emergency, site.zones)

    def _apply(self) -> None:
        since = self._state.latched_since
        if since is None:
            self._reconciler.set_life_safety({})
            return
        cause = Cause("emergency", "fire-panel")
        self._reconciler.set_life_safety(
            {out: Want(v, "life_safety", cause, since=since) for out, v in self._table.items()}
        )

    def _on_event(self, event: BusEvent) -> None:
        if not isinstance(event, PointUpdate):
            return
        ref = f"{event.device}.{event.point}"
        active = self._alarms.get(ref)
        if active is None or self._state.active:
            return
        if event.quality == Quality.GOOD and event.value == active:
            self._state.latch(ref)

    async def run(self, ready: Callable[[], None]) -> None:
        with (
            self._state.changes.subscribe(lambda _change: self._apply()),
            self._points.subscribe(self._on_event),
        ):
            self._apply()
            ready()
            await asyncio.Event().wait()
