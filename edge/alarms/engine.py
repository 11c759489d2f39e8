"""The alarm engine: debounced conditions in, alarm transitions out, persisted.

Detectors only say "this condition is (not) present now" via `report()`. The engine
owns everything else: delay-on/delay-off debounce (on the monotonic clock, so a wall
clock jump neither raises nor clears anything), the lifecycle (see `model`), shelving
with a wall-clock expiry, latching, persistence, and the fan-out of `AlarmEvent`s.
`tick()` applies whatever timers are due; `run()` calls it at the next deadline.

A store: the engine (and every alarm's state) lives as long as the daemon; the
detectors that report into it are a per-config worker, and `configure()` applies a
reloaded `[alarms]` table. Transitions are published on `events`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import structlog

from edge.alarms import store
from edge.alarms.errors import AlarmRefused, UnknownAlarmClass
from edge.alarms.model import (
    OPEN_STATES,
    AlarmClass,
    AlarmEvent,
    AlarmRecord,
    AlarmState,
    alarm_id,
)
from edge.clock import Clock
from edge.storage import Database
from edge.topic import Subscription, Topic

log = structlog.get_logger("edge.alarms")

Listener = Callable[[AlarmEvent], None]
FLUSH_BATCH_S = 0.05
IDLE_WAKE_S = 60.0


@dataclass
class _Condition:
    cls: str
    source: str
    raw: bool
    since: float
    """Monotonic instant at which `raw` last changed."""
    message: str = ""
    device: str | None = None
    zone: str | None = None


class AlarmEngine:
    name = "alarms"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        classes: Mapping[str, AlarmClass],
        *,
        disabled: frozenset[str] = frozenset(),
        shelve_max: timedelta = timedelta(hours=72),
        retention: timedelta = timedelta(days=90),
    ) -> None:
        self._db = db
        self._clock = clock
        self._classes = dict(classes)
        self._disabled = disabled
        self._shelve_max = shelve_max
        self._retention = retention
        self._alarms: dict[str, AlarmRecord] = {}
        self._conds: dict[str, _Condition] = {}
        self._dirty: set[str] = set()
        self.events: Topic[AlarmEvent] = Topic("alarms")
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()
        """Set while the run loop sleeps with nothing left to do (for tests and shutdown)."""
        self.flush_failures = 0

    # ---- subscribers ---------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Subscription:
        """`listener(event)` for every transition, e.g. `with engine.subscribe(f):`."""
        return self.events.subscribe(listener)

    def configure(
        self,
        classes: Mapping[str, AlarmClass],
        *,
        disabled: frozenset[str] = frozenset(),
        shelve_max: timedelta = timedelta(hours=72),
        retention: timedelta = timedelta(days=90),
    ) -> None:
        """Apply a (re)loaded `[alarms]` table; open alarms keep their state."""
        self._classes = dict(classes)
        self._disabled = disabled
        self._shelve_max = shelve_max
        self._retention = retention
        self._wake.set()

    def _emit(self, rec: AlarmRecord) -> None:
        ev = AlarmEvent(
            alarm_id=rec.alarm_id,
            cls=rec.cls,
            source=rec.source,
            severity=rec.severity,
            state=rec.state,
            ts=rec.updated_at,
            message=rec.message,
            ack_by=rec.ack_by,
            occurrence=rec.occurrence,
            shelved_until=rec.shelved_until,
            device=rec.device,
            zone=rec.zone,
        )
        log.info("alarm_transition", alarm=rec.alarm_id, state=rec.state.value,
                 severity=rec.severity.value)  # fmt: skip
        self._dirty.add(rec.alarm_id)
        self._wake.set()
        self.events.publish(ev)

    # ---- queries -----------------------------------------------------------------
    def known_class(self, cls: str) -> bool:
        return cls in self._classes or cls in self._disabled

    def get(self, alarm_id_: str) -> AlarmRecord | None:
        return self._alarms.get(alarm_id_)

    def open_alarms(self) -> list[AlarmRecord]:
        """Every alarm not cleared, most severe first, then oldest first."""
        order = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
        items = [r for r in self._alarms.values() if r.state in OPEN_STATES]
        return sorted(items, key=lambda r: (order[r.severity.value], r.raised_at, r.alarm_id))

    def snapshot(self) -> list[dict[str, object]]:
        """Open alarms as plain dicts (for edgectl and the birth message)."""
        return [msgspec.to_builtins(r) for r in self.open_alarms()]

    # ---- detector input ---------------------------------------------------------
    def report(
        self,
        cls: str,
        source: str,
        active: bool,
        message: str = "",
        *,
        device: str | None = None,
        zone: str | None = None,
    ) -> None:
        """The condition `cls` on `source` is (not) present now; debounced by the class."""
        if cls in self._disabled:
            return
        if cls not in self._classes:
            raise UnknownAlarmClass(cls, list(self._classes))
        key = alarm_id(cls, source)
        mono = self._clock.monotonic()
        cond = self._conds.get(key)
        if cond is None:
            cond = self._conds[key] = _Condition(cls, source, active, mono)
        elif cond.raw != active:
            cond.raw, cond.since = active, mono
        if message:
            cond.message = message
        cond.device = device or cond.device
        cond.zone = zone or cond.zone
        if self._evaluate(key, cond, mono) is not None:
            self._wake.set()  # a new deadline: the run loop recomputes its sleep

    def _evaluate(self, key: str, cond: _Condition, mono: float) -> float | None:
        """Apply the condition if its delay has passed; else seconds until it will."""
        cls = self._classes[cond.cls]
        rec = self._alarms.get(key)
        debounced = rec is not None and rec.state in OPEN_STATES and rec.condition
        if cond.raw == debounced:
            return None
        delay = cls.delay_on_s if cond.raw else cls.delay_off_s
        due = cond.since + delay - mono
        if due > 1e-9:
            return due
        # Stamp the transition at the instant the delay ran out, not when we looked.
        at = self._clock.now() - timedelta(seconds=max(0.0, -due))
        if cond.raw:
            self._raise(key, cond, cls, at)
        else:
            self._normal(key, cond, cls, at)
        return None

    def _raise(self, key: str, cond: _Condition, cls: AlarmClass, now: datetime) -> None:
        rec = self._alarms.get(key)
        message = cond.message or cls.description
        if rec is None or rec.state is AlarmState.CLEARED:
            rec = AlarmRecord(
                alarm_id=key,
                cls=cls.name,
                source=cond.source,
                severity=cls.severity,
                state=AlarmState.ACTIVE,
                message=message,
                raised_at=now,
                updated_at=now,
                occurrence=1 if rec is None else rec.occurrence + 1,
                device=cond.device,
                zone=cond.zone,
            )
            self._alarms[key] = rec
            self._emit(rec)
            return
        rec.condition = True
        rec.message = message
        rec.updated_at = now
        if rec.state is AlarmState.RETURNED:
            rec.state, rec.ack_by, rec.acked_at = AlarmState.ACTIVE, None, None
            self._emit(rec)
        else:
            self._dirty.add(key)

    def _normal(self, key: str, cond: _Condition, cls: AlarmClass, now: datetime) -> None:
        rec = self._alarms[key]
        rec.condition = False
        rec.updated_at = now  # the message keeps saying what was wrong, for the ack
        if rec.state is AlarmState.ACTIVE:
            rec.state = AlarmState.RETURNED if cls.latching else AlarmState.CLEARED
            self._emit(rec)
        elif rec.state is AlarmState.ACKED:
            rec.state = AlarmState.CLEARED
            self._emit(rec)
        else:
            self._dirty.add(key)  # shelved: resolved at expiry

    # ---- operator actions ------------------------------------------------------
    def _open(self, alarm_id_: str) -> AlarmRecord:
        rec = self._alarms.get(alarm_id_)
        if rec is None:
            raise AlarmRefused(alarm_id_, "no such alarm; list them with `edgectl alarms`")
        if rec.state is AlarmState.CLEARED:
            raise AlarmRefused(alarm_id_, f"already cleared at {rec.updated_at.isoformat()}")
        return rec

    def ack(self, alarm_id_: str, by: str) -> AlarmEvent:
        """Acknowledge; a latching alarm already back to normal closes."""
        if not by:
            raise AlarmRefused(alarm_id_, "an acknowledgement needs `by` (who acknowledges)")
        rec = self._open(alarm_id_)
        if rec.state is AlarmState.ACKED:
            raise AlarmRefused(alarm_id_, f"already acknowledged by {rec.ack_by}")
        if rec.state is AlarmState.SHELVED:
            raise AlarmRefused(
                alarm_id_, f"shelved until {_iso(rec.shelved_until)}; unshelve it first"
            )
        now = self._clock.now()
        rec.ack_by, rec.acked_at, rec.updated_at = by, now, now
        rec.state = AlarmState.CLEARED if rec.state is AlarmState.RETURNED else AlarmState.ACKED
        self._emit(rec)
        return self._last_event(rec)

    def shelve(self, alarm_id_: str, until: datetime, by: str) -> AlarmEvent:
        """Hide an open alarm until `until` (at most `shelve_max` ahead)."""
        if not by:
            raise AlarmRefused(alarm_id_, "shelving needs `by` (who shelves)")
        rec = self._open(alarm_id_)
        now = self._clock.now()
        if until.tzinfo is None:
            raise AlarmRefused(alarm_id_, "shelve expiry needs a timezone (e.g. ...+08:00)")
        if until <= now:
            raise AlarmRefused(alarm_id_, f"shelve expiry {until.isoformat()} is not in the future")
        if until - now > self._shelve_max:
            raise AlarmRefused(
                alarm_id_,
                f"shelve longer than the {self._shelve_max} allowed ([alarms] shelve_max_h)",
            )
        if rec.state is AlarmState.SHELVED:
            raise AlarmRefused(alarm_id_, f"already shelved until {_iso(rec.shelved_until)}")
        rec.state, rec.shelved_until, rec.shelved_by, rec.updated_at = (
            AlarmState.SHELVED, until, by, now
        )  # fmt: skip
        self._emit(rec)
        self._wake.set()
        return self._last_event(rec)

    def unshelve(self, alarm_id_: str, by: str) -> AlarmEvent:
        """End a shelve now: the alarm comes back as active (unacked) or closes."""
        rec = self._open(alarm_id_)
        if rec.state is not AlarmState.SHELVED:
            raise AlarmRefused(alarm_id_, f"not shelved (state {rec.state.value})")
        self._end_shelve(rec, by)
        return self._last_event(rec)

    def _end_shelve(self, rec: AlarmRecord, by: str | None) -> None:
        rec.updated_at = self._clock.now()
        rec.shelved_until, rec.shelved_by = None, by
        rec.ack_by, rec.acked_at = None, None
        # A shelve counts as awareness: a latching alarm gone meanwhile simply closes.
        rec.state = AlarmState.ACTIVE if rec.condition else AlarmState.CLEARED
        self._emit(rec)

    def _last_event(self, rec: AlarmRecord) -> AlarmEvent:
        return AlarmEvent(
            alarm_id=rec.alarm_id, cls=rec.cls, source=rec.source, severity=rec.severity,
            state=rec.state, ts=rec.updated_at, message=rec.message, ack_by=rec.ack_by,
            occurrence=rec.occurrence, shelved_until=rec.shelved_until,
            device=rec.device, zone=rec.zone,
        )  # fmt: skip

    # ---- timers ------------------------------------------------------------------
    def tick(self) -> float | None:
        """Apply due delays and shelve expiries; seconds until the next one (None: none)."""
        mono = self._clock.monotonic()
        soonest: float | None = None
        for key, cond in list(self._conds.items()):
            due = self._evaluate(key, cond, mono)
            if due is not None:
                soonest = due if soonest is None else min(soonest, due)
        now = self._clock.now()
        for rec in list(self._alarms.values()):
            if rec.state is AlarmState.SHELVED and rec.shelved_until is not None:
                left = (rec.shelved_until - now).total_seconds()
                if left <= 0:
                    self._end_shelve(rec, None)
                else:
                    soonest = left if soonest is None else min(soonest, left)
        return soonest

    # ---- persistence ------------------------------------------------------------
    async def load(self) -> None:
        await self._db.migrate(store.SCHEMA)
        records = await self._db.run(store.load)
        self._alarms = {r.alarm_id: r for r in records}
        log.info("alarms_loaded", open=len(self.open_alarms()), total=len(records))

    async def flush(self) -> None:
        ids, self._dirty = self._dirty, set()
        records = [self._alarms[i] for i in ids if i in self._alarms]
        if not records:
            return
        # Encode now: records are mutable and the DB thread must see a consistent copy.
        frozen = [msgspec.json.decode(msgspec.json.encode(r), type=AlarmRecord) for r in records]
        try:
            await self._db.transaction(lambda c: store.save(c, frozen))
        except BaseException:  # cancelled too: the idempotent write is redone
            self._dirty |= ids
            self.flush_failures += 1
            raise

    async def run(self, ready: Callable[[], None]) -> None:
        """Standalone use: load, report ready, serve."""
        await self.load()
        ready()
        await self.serve()

    async def serve(self) -> None:
        """Apply timers at their deadlines and persist changes in small batches."""
        pruned_at = self._clock.monotonic()
        try:
            while True:
                wait = self.tick()
                deadline = None if wait is None else self._clock.monotonic() + wait
                if self._dirty:
                    await asyncio.sleep(FLUSH_BATCH_S)  # gather a batch: one fsync for many
                    try:
                        await self.flush()
                    except Exception:
                        log.exception("alarms_flush_failed", pending=len(self._dirty))
                        retry = self._clock.monotonic() + 1.0
                        deadline = retry if deadline is None else min(deadline, retry)
                mono = self._clock.monotonic()
                if mono - pruned_at > 3600:
                    pruned_at = mono
                    await self._prune(self._clock.now() - self._retention)
                # Sleep to an absolute deadline: time that passed during the DB work counts.
                left = IDLE_WAKE_S if deadline is None else deadline - self._clock.monotonic()
                await self._sleep(min(max(left, 0.0), IDLE_WAKE_S))
        finally:
            if self._dirty:
                await asyncio.shield(self.flush())

    async def _prune(self, cutoff: datetime) -> None:
        try:
            await self._db.run(lambda c: store.prune(c, cutoff))
        except Exception:
            log.exception("alarms_prune_failed")

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._wake.is_set() and not self._dirty:
            self.idle.set()
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
            self.idle.clear()
            self._wake.clear()


def _iso(ts: datetime | None) -> str:
    return ts.isoformat() if ts is not None else "?"
