"""The automation component: gathers the world, evaluates the rules, feeds the reconciler.

Evaluation runs at each next-change instant the rules report, after clock jumps, and
whenever an input the rules watch, a booking, an override, the emergency latch or a
granted entry changes (the scheduler is poked). Everything it remembers lives in the
stores it is given (overrides, automation state), so a restarted or reloaded automation
is a fresh instance that picks up where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import structlog

from drivers.modbus.events import BusEvent, PointUpdate, Quality
from edge.access.records import AccessEvent
from edge.automation.emergency import EmergencyState
from edge.automation.overrides import OverrideStore
from edge.automation.reconciler import Cause, Reconciler, Want
from edge.automation.state import AutomationState
from edge.bookings.store import BookingStore
from edge.clock import Clock
from edge.field.points import PointTable
from edge.liveness import Liveness
from edge.scheduler import Scheduler
from edge.topic import Topic
from rules import Evaluation, evaluate
from rules.model import Override, PointValue, Site, Value, World
from rules.optimal_start import observe, warmup_done

log = structlog.get_logger("edge.automation")

QUALITY = {Quality.GOOD: "good", Quality.STALE: "stale"}
Labels = Mapping[str, Mapping[str, str]]
"""output -> {raw enum number as text: label}: what the device reads back."""


def want_of(
    output: str, ev: Evaluation, labels: Labels, overrides: Mapping[str, Override]
) -> Want | None:
    state = ev.outputs.get(output)
    w = state.winner if state is not None else None
    if w is None:
        return None
    cause = Cause(w.cause.kind, w.cause.id, detail=w.cause.detail)
    ov = overrides.get(w.cause.id) if w.cause.kind == "override" else None
    if ov is not None:  # who issued it, kept as a field (the journal names them)
        cause = Cause("override", ov.id, actor=f"{ov.source}:{ov.by}", detail=ov.reason)
    expect: Value | str | None = None
    table = labels.get(output)
    if table is not None and isinstance(w.value, int) and not isinstance(w.value, bool):
        expect = table.get(str(w.value))
    return Want(
        w.value,
        w.level.value,
        cause,
        w.cause.since,
        w.cause.until,
        expect,
    )


class Automation:
    name = "automation"

    def __init__(
        self,
        site: Site,
        labels: Labels,
        clock: Clock,
        points: PointTable,
        reconciler: Reconciler,
        bookings: BookingStore,
        overrides: OverrideStore,
        state: AutomationState,
        emergency: EmergencyState,
        access: Topic[AccessEvent],
        liveness: Liveness,
    ) -> None:
        self.site = site
        self._labels = labels
        self._clock = clock
        self._points = points
        self._reconciler = reconciler
        self._bookings = bookings
        self._overrides = overrides
        self._state = state
        self._emergency = emergency
        self._access = access
        self._liveness = liveness
        self._watched: set[str] = set()
        self._temp_point = {z.id: z.temp_point for z in site.zones if z.temp_point}
        self.scheduler = Scheduler(clock, self._evaluate, on_beat=lambda: liveness.beat(self.name))

    # ---- inputs -------------------------------------------------------------------
    def _on_point(self, event: BusEvent) -> None:
        if isinstance(event, PointUpdate) and f"{event.device}.{event.point}" in self._watched:
            self.scheduler.poke()

    def _on_access(self, event: AccessEvent) -> None:
        if event.granted and event.booking_id:
            self._state.record_entry(event.booking_id, event.ts)
            self.scheduler.poke()

    def _poke(self, _change: object) -> None:
        self.scheduler.poke()

    def _temperature(self, zone: str) -> float | None:
        ref = self._temp_point.get(zone)
        st = self._points.get(ref) if ref else None
        if st is None or st.quality != Quality.GOOD or not isinstance(st.value, int | float):
            return None
        return float(st.value)

    def _track_warmups(self, ev: Evaluation, now: datetime) -> None:
        """Learn each zone's warm-up rate from optimal starts that reach their target."""
        log_ = self._state.prestart_log
        for p in ev.prestarts:
            key = (p.zone, p.due)
            began = max(p.since, now)  # the plan may say earlier than edged was there to act
            log_[key] = min(log_.get(key, began), began)
        horizon = now - timedelta(days=2)
        self._state.prestart_log = {k: v for k, v in log_.items() if k[1] > horizon}
        active = {p.zone: p for p in ev.prestarts}
        warmups = self._state.warmups
        for zone in list(warmups):
            if zone not in active or active[zone].since != warmups[zone][0].since:
                del warmups[zone]  # cancelled or replaced before the target was reached
        for zone, pre in active.items():
            temp = self._temperature(zone)
            if temp is None:
                continue
            if zone not in warmups:
                warmups[zone] = (pre, temp)
                continue
            pre, start_temp = warmups[zone]
            result = warmup_done(pre, start_temp, temp, now, self.site.optimal_start)
            if result is None:
                continue
            del warmups[zone]
            self._state.learned = observe(
                self._state.learned,
                zone,
                result.start_temp,
                result.target_c,
                result.took_s,
                now,
                self.site.optimal_start,
            )
            self._state.last_warmup_early_s[zone] = result.early_s
            log.info(
                "warmup_reached",
                zone=zone,
                early_s=round(result.early_s),
                took_s=round(result.took_s),
                start_temp=result.start_temp,
            )

    async def run(self, ready: Callable[[], None]) -> None:
        self._liveness.register(self.name, allowance_s=30.0)
        try:
            with (
                self._points.subscribe(self._on_point),
                self._bookings.changes.subscribe(self._poke),
                self._overrides.changes.subscribe(self._poke),
                self._emergency.changes.subscribe(self._poke),
                self._access.subscribe(self._on_access),
            ):
                await self.scheduler.run(ready)
        finally:
            self._liveness.unregister(self.name)

    def _inputs(self) -> dict[str, PointValue]:
        out: dict[str, PointValue] = {}
        for ref in self._watched:
            st = self._points.get(ref)
            if st is not None and st.value is not None and not isinstance(st.value, str):
                out[ref] = PointValue(value=st.value, quality=QUALITY.get(st.quality, "bad"))  # type: ignore[arg-type]
        return out

    async def _evaluate(self, now: datetime) -> datetime | None:
        state = self._state
        bookings = self._bookings.snapshot()
        overrides = self._overrides.active(now)
        memory = state.memory
        # The inputs are the points the rules watch, which the evaluation itself reveals (a
        # new booking brings its zone's temperature): evaluate again until the set is stable.
        for _ in range(4):
            world = World(
                site=self.site,
                bookings=bookings,
                overrides=overrides,
                inputs=self._inputs(),
                entries=tuple(state.entries),
                learned=state.learned,
                memory=memory,
                emergency_reset_at=self._emergency.reset_at,
            )
            ev = evaluate(world, now)
            watched = set(ev.watched_points)
            grew = not watched <= self._watched
            self._watched = watched
            if not grew:
                break
        state.last = ev
        state.memory = ev.memory
        self._track_warmups(ev, now)
        by_id = {o.id: o for o in overrides}
        wanted = {
            o: w for o in ev.outputs if (w := want_of(o, ev, self._labels, by_id)) is not None
        }
        self._reconciler.set_wanted(wanted)
        try:
            await state.save()
        except Exception:  # outputs are already right; the state is saved next time
            log.exception("automation_state_not_saved")
        return ev.next_change
