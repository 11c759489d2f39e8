"""The automation component: gathers the world, evaluates the rules, feeds the reconciler.

Evaluation runs at each next-change instant the rules report, after clock jumps, and
whenever an input the rules watch, a booking or an override changes (the scheduler is
poked). Overrides are persisted with their mandatory expiry, so none survives by
accident and none is lost by a restart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import msgspec
import structlog

from drivers.modbus.events import BusEvent, PointUpdate, Quality
from edge.automation.reconciler import Reconciler, Want
from edge.bookings.model import Booking as StoredBooking
from edge.bookings.store import BookingStore
from edge.clock import Clock
from edge.field.points import PointTable
from edge.liveness import Liveness
from edge.scheduler import Scheduler
from edge.storage import Database, Schema, kv
from rules import Evaluation, evaluate
from rules.model import Booking, Entry, Memory, Override, PointValue, Site, Value, World
from rules.optimal_start import LearnedRates, PreStart, observe, warmup_done

log = structlog.get_logger("edge.automation")

SCHEMA = Schema(
    component="automation",
    steps=[
        "CREATE TABLE overrides (id TEXT PRIMARY KEY, output TEXT NOT NULL, body BLOB NOT NULL)",
    ],
)
MAX_OVERRIDE = timedelta(days=7)
MEMORY_KEY = "rules.memory"
LEARNED_KEY = "rules.learned"
QUALITY = {Quality.GOOD: "good", Quality.STALE: "stale"}


def to_rules_booking(b: StoredBooking) -> Booking:
    return Booking(
        booking_id=b.booking_id,
        zone=b.zone,
        start=b.start,
        end=b.end,
        member=b.member,
        status=b.status,
        version=b.version,
        plate=b.plate,
    )


class OverrideRefused(Exception):
    """A manual override that cannot be accepted; the message says how to fix it."""


class Automation:
    name = "automation"

    def __init__(
        self,
        site: Site,
        clock: Clock,
        points: PointTable,
        reconciler: Reconciler,
        bookings: BookingStore,
        db: Database,
        liveness: Liveness,
        emergency_reset_at: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self.site = site
        self._clock = clock
        self._points = points
        self._reconciler = reconciler
        self._bookings = bookings
        self._db = db
        self._liveness = liveness
        self._reset_at = emergency_reset_at
        self._overrides: dict[str, Override] = {}
        self._entries: list[Entry] = []
        self._watched: set[str] = set()
        self.last: Evaluation | None = None
        self.memory = Memory()
        self.learned = LearnedRates()
        self.warmups: dict[str, tuple[PreStart, float]] = {}
        """zone -> the optimal-start warm-up in progress and the temperature it began at."""
        self.last_warmup_early_s: dict[str, float] = {}
        self._prestart_log: dict[tuple[str, datetime], datetime] = {}
        """(zone, booking window start) -> when pre-conditioning began (for energy windows)."""
        self._saved: dict[str, bytes] = {}
        self._temp_point = {z.id: z.temp_point for z in site.zones if z.temp_point}
        self.scheduler = Scheduler(clock, self._evaluate, on_beat=lambda: liveness.beat(self.name))

    # ---- inputs -------------------------------------------------------------------
    def _on_point(self, event: BusEvent) -> None:
        if isinstance(event, PointUpdate) and f"{event.device}.{event.point}" in self._watched:
            self.scheduler.poke()

    def record_entry(self, booking_id: str, at: datetime) -> None:
        """A granted entry for a booking (no-show release input)."""
        self._entries.append(Entry(booking_id=booking_id, at=at))
        self.scheduler.poke()

    async def add_override(
        self, output: str, value: Value, duration: timedelta, source: str, by: str, reason: str = ""
    ) -> Override:
        if duration <= timedelta(0) or duration > MAX_OVERRIDE:
            raise OverrideRefused(
                f"override duration must be between 1 s and {MAX_OVERRIDE.days} days"
            )
        now = self._clock.now()
        ov = Override(
            id=f"ov-{output}-{int(now.timestamp() * 1000)}",
            output=output,
            value=value,
            issued_at=now,
            expires_at=now + duration,
            source="cloud" if source == "cloud" else "technician",
            by=by,
            reason=reason,
        )
        body = msgspec.json.encode(ov)

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM overrides WHERE output = ?", (output,))
            conn.execute("INSERT INTO overrides VALUES (?, ?, ?)", (ov.id, output, body))

        await self._db.transaction(save)
        self._overrides = {k: v for k, v in self._overrides.items() if v.output != output}
        self._overrides[ov.id] = ov
        log.info("override_set", output=output, value=value, until=ov.expires_at.isoformat(), by=by)
        self.scheduler.poke()
        return ov

    async def release(self, output: str, by: str) -> bool:
        gone = [k for k, v in self._overrides.items() if v.output == output]
        await self._db.run(lambda c: c.execute("DELETE FROM overrides WHERE output = ?", (output,)))
        for k in gone:
            del self._overrides[k]
        if gone:
            log.info("override_released", output=output, by=by)
            self.scheduler.poke()
        return bool(gone)

    def overrides(self) -> list[Override]:
        return sorted(self._overrides.values(), key=lambda o: o.output)

    # ---- the loop -------------------------------------------------------------------
    async def _load_state(self) -> None:
        await self._db.migrate(kv.SCHEMA)
        raw = await self._db.run(lambda c: (kv.get(c, MEMORY_KEY), kv.get(c, LEARNED_KEY)))
        try:
            if raw[0]:
                self.memory = msgspec.json.decode(raw[0], type=Memory)
            if raw[1]:
                self.learned = msgspec.json.decode(raw[1], type=LearnedRates)
        except msgspec.DecodeError:
            log.error("automation_state_unreadable_starting_fresh")
        self._saved = {
            MEMORY_KEY: msgspec.json.encode(self.memory),
            LEARNED_KEY: msgspec.json.encode(self.learned),
        }

    async def _save_state(self) -> None:
        """Persist memory (hold timers, latches) and learned rates when they changed."""
        for key, value in ((MEMORY_KEY, self.memory), (LEARNED_KEY, self.learned)):
            body = msgspec.json.encode(value)
            if self._saved.get(key) != body:
                await self._db.run(partial(kv.put, key=key, value=body.decode()))
                self._saved[key] = body

    def _temperature(self, zone: str) -> float | None:
        ref = self._temp_point.get(zone)
        st = self._points.get(ref) if ref else None
        if st is None or st.quality != Quality.GOOD or not isinstance(st.value, int | float):
            return None
        return float(st.value)

    def prestart_of(self, zone: str, start: datetime) -> datetime | None:
        """When pre-conditioning began for `zone`'s window starting at `start`, if it did."""
        return self._prestart_log.get((zone, start))

    def _track_warmups(self, ev: Evaluation, now: datetime) -> None:
        """Learn each zone's warm-up rate from optimal starts that reach their target."""
        for p in ev.prestarts:
            key = (p.zone, p.due)
            began = max(p.since, now)  # the plan may say earlier than edged was there to act
            self._prestart_log[key] = min(self._prestart_log.get(key, began), began)
        horizon = now - timedelta(days=2)
        self._prestart_log = {k: v for k, v in self._prestart_log.items() if k[1] > horizon}
        active = {p.zone: p for p in ev.prestarts}
        for zone in list(self.warmups):
            if zone not in active or active[zone].since != self.warmups[zone][0].since:
                del self.warmups[zone]  # cancelled or replaced before the target was reached
        for zone, pre in active.items():
            temp = self._temperature(zone)
            if temp is None:
                continue
            if zone not in self.warmups:
                self.warmups[zone] = (pre, temp)
                continue
            pre, start_temp = self.warmups[zone]
            result = warmup_done(pre, start_temp, temp, now, self.site.optimal_start)
            if result is None:
                continue
            del self.warmups[zone]
            self.learned = observe(
                self.learned,
                zone,
                result.start_temp,
                result.target_c,
                result.took_s,
                now,
                self.site.optimal_start,
            )
            self.last_warmup_early_s[zone] = result.early_s
            log.info(
                "warmup_reached",
                zone=zone,
                early_s=round(result.early_s),
                took_s=round(result.took_s),
                start_temp=result.start_temp,
            )

    async def run(self, ready: Callable[[], None]) -> None:
        await self._db.migrate(SCHEMA)
        await self._load_state()
        rows = await self._db.run(lambda c: c.execute("SELECT body FROM overrides").fetchall())
        decoder = msgspec.json.Decoder(Override)
        self._overrides = {o.id: o for o in (decoder.decode(r[0]) for r in rows)}
        unsubscribe = self._points.subscribe(self._on_point)
        self._bookings.add_listener(lambda _version: self.scheduler.poke())
        self._liveness.register(self.name, allowance_s=30.0)
        try:
            await self.scheduler.run(ready)
        finally:
            unsubscribe()
            self._liveness.unregister(self.name)

    def _inputs(self) -> dict[str, PointValue]:
        out: dict[str, PointValue] = {}
        for ref in self._watched:
            st = self._points.get(ref)
            if st is not None and st.value is not None:
                out[ref] = PointValue(value=st.value, quality=QUALITY.get(st.quality, "bad"))  # type: ignore[arg-type]
        return out

    async def _evaluate(self, now: datetime) -> datetime | None:
        self._overrides = {k: v for k, v in self._overrides.items() if v.expires_at > now}
        bookings = tuple(to_rules_booking(b) for b in self._bookings.snapshot())
        memory = self.memory
        # The inputs are the points the rules watch, which the evaluation itself reveals (a
        # new booking brings its zone's temperature): evaluate again until the set is stable.
        for _ in range(4):
            world = World(
                site=self.site,
                bookings=bookings,
                overrides=tuple(self._overrides.values()),
                inputs=self._inputs(),
                entries=tuple(self._entries),
                learned=self.learned,
                memory=memory,
                emergency_reset_at=self._reset_at(),
            )
            ev = evaluate(world, now)
            watched = set(ev.watched_points)
            grew = not watched <= self._watched
            self._watched = watched
            if not grew:
                break
        self.last = ev
        self.memory = ev.memory
        self._track_warmups(ev, now)
        wanted: dict[str, Want] = {}
        for out, state in ev.outputs.items():
            w = state.winner
            if w is not None:
                wanted[out] = Want(
                    w.value,
                    w.level.value,
                    f"{w.cause.kind}:{w.cause.id}",
                    w.cause.since,
                    w.cause.until,
                )
        self._reconciler.set_wanted(wanted)
        try:
            await self._save_state()
        except Exception:  # outputs are already right; the state is saved next time
            log.exception("automation_state_not_saved")
        return ev.next_change
