"""The `energy` component: meter readings in, interval and booking energy out.

Listens to the point table for every meter (a device with a `meter.energy_import` point,
and optionally `meter.power`),
decodes the counter (rollover, reset, absurd values: see `decoder`), keeps each
meter's cumulative curve, and on each tick closes the wall-clock intervals and the
bookings whose end the readings have passed. Records are published on the `records`
topic it is given (the daemon's, which outlives this component: the journal and the
uplink feed subscribe there) and saved in SQLite; the counter state and recent history
survive a restart, so a gap across a restart is interpolated like any other.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from drivers.modbus.codec import INT_RANGES
from drivers.modbus.events import BusEvent, PointUpdate, Quality
from drivers.modbus.points import DeviceProfile
from edge.clock import Clock
from edge.config.model import VenueConfig
from edge.energy import store
from edge.energy.apportion import Window, booking_share, served_zones
from edge.energy.assist import PowerAssist
from edge.energy.curve import EnergyCurve
from edge.energy.decoder import CounterDecoder, StepKind
from edge.energy.intervals import floor_interval, next_boundary
from edge.energy.model import BookingEnergy, EnergyConfig, EnergyInterval
from edge.energy.nesting import downstream, upstream_meters
from edge.energy.windows import WindowFn, fixed_window
from edge.field.points import PointTable
from edge.profiles import ProfileBook
from edge.profiles import shipped as shipped_profiles
from edge.roles import RoleMap
from edge.storage import Database
from edge.topic import Subscription, Topic
from rules.model import Booking

log = structlog.get_logger("edge.energy")

Record = EnergyInterval | BookingEnergy
FLOAT32_EPS = 2.0**-23
PROCESS_S = 5.0
FLUSH_S = 30.0
"""Counter state and knots are written at most this often (one fsync), records too."""


@dataclass
class _Meter:
    id: str
    zone: str | None
    decoder: CounterDecoder
    curve: EnergyCurve
    assist: PowerAssist
    cum: float = 0.0
    next_interval: datetime | None = None
    flushed_tail: float | None = None
    """Time of the last knot at the last flush (the tail may have moved since)."""
    dirty: bool = False
    rejected: int = 0
    last_reject: str = ""


@dataclass
class _ZoneAcc:
    meters: dict[str, EnergyInterval] = field(default_factory=dict)


def meter_register(profile: DeviceProfile, point: str) -> tuple[float | None, float]:
    """(wrap kWh or None, resolution kWh) of a meter's energy counter point."""
    p = profile.point(point)
    if p is None:
        raise ValueError(f"profile {profile.name} has no point {point!r}")
    if p.datatype in INT_RANGES:
        _, high = INT_RANGES[p.datatype]
        return (high + 1) * p.scale + p.offset, p.scale
    return None, 0.001


class EnergyService:
    name = "energy"

    def __init__(
        self,
        venue: VenueConfig,
        cfg: EnergyConfig,
        db: Database,
        clock: Clock,
        *,
        points: PointTable | None = None,
        bookings: Callable[[], Iterable[Booking]] | None = None,
        window: WindowFn | None = None,
        records: Topic[Record] | None = None,
        profiles: ProfileBook | None = None,
    ) -> None:
        self._points = points
        self._cfg = cfg
        self._db = db
        self._clock = clock
        self._tz = ZoneInfo(venue.site.timezone)
        self._bookings = bookings
        pre = cfg.booking_pre_start_min
        self._window = window or fixed_window(timedelta(minutes=pre or 0.0))
        self._meters: dict[str, _Meter] = {}
        book = profiles or shipped_profiles()
        roles = RoleMap.of(venue, book)
        self._counter_point: dict[str, str] = {}
        self._power_point: dict[str, str] = {}
        for d in venue.devices:
            energy = roles.point(d.id, "meter.energy_import")
            if energy is None:
                continue
            self._counter_point[d.id] = energy.point
            power = roles.point(d.id, "meter.power")
            if power is not None:
                self._power_point[d.id] = power.point
            wrap, quantum = meter_register(book.resolved(d.profile, d.points), energy.point)
            curve = EnergyCurve(max_gap_s=cfg.max_gap_s)
            self._meters[d.id] = _Meter(
                d.id, d.zone,
                CounterDecoder(wrap, max_kw=cfg.max_kw, quantum_kwh=quantum),
                curve, PowerAssist(curve, max_w=cfg.max_kw * 1000),
            )  # fmt: skip
        self._zone_meters: dict[str, list[str]] = {}
        for m in self._meters.values():
            if m.zone is not None:
                self._zone_meters.setdefault(m.zone, []).append(m.id)
        parents = {z.id: z.parent for z in venue.zones}
        self._served = served_zones(parents)
        upstream, _ = upstream_meters(
            {m.id: m.zone for m in self._meters.values()}, parents, cfg.upstream, cfg.nested_meters
        )  # the config loader has reported any problem with these
        self._downstream = downstream(upstream)
        self._zone_acc: dict[tuple[str, datetime], _ZoneAcc] = {}
        self._done: dict[str, str] = {}
        self.records: Topic[Record] = records if records is not None else Topic("energy")
        self._out_intervals: list[EnergyInterval] = []
        self._out_bookings: list[BookingEnergy] = []

    # ---- wiring ------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Record], None]) -> Subscription:
        return self.records.subscribe(listener)

    def _emit(self, record: Record) -> None:
        if isinstance(record, EnergyInterval):
            self._out_intervals.append(record)
        else:
            self._out_bookings.append(record)
        self.records.publish(record)

    # ---- input -------------------------------------------------------------------
    def on_event(self, event: BusEvent) -> None:
        """PointTable listener."""
        if not isinstance(event, PointUpdate) or event.device not in self._meters:
            return
        if event.quality is not Quality.GOOD:
            return  # a stale or failed read repeats an old value: no new information
        m = self._meters[event.device]
        if event.point == self._power_point.get(event.device):
            v = event.value
            watts = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
            m.decoder.note_power(watts)
            m.assist.power(event.ts.timestamp(), watts)
            m.dirty = True
        elif event.point == self._counter_point[event.device]:
            v = event.value
            self.reading(event.device, event.ts, float(v) if isinstance(v, int | float) else None)

    def reading(self, meter: str, ts: datetime, kwh: float | None) -> None:
        """One counter reading (also usable directly, e.g. by tests and replays)."""
        m = self._meters.get(meter)
        if m is None:
            raise KeyError(
                f"{meter!r} is not a meter (no meter.energy_import point); "
                f"known: {sorted(self._meters)}"
            )
        t = ts.timestamp()
        step = m.decoder.feed(t, kwh)
        if not step.accepted:
            m.rejected += 1
            if step.reason != m.last_reject:
                log.warning("meter_reading_rejected", meter=meter, reason=step.reason)
            m.last_reject = step.reason
            return
        m.last_reject = ""
        if step.kind in (StepKind.RESET, StepKind.REBASED):
            log.warning("meter_counter_discontinuity", meter=meter, reason=step.reason)
        m.cum += step.delta_kwh
        # An integer register (one that wraps) floors; a float one is exact to its precision
        # either way.
        q = m.decoder.quantum_kwh
        u = max(q, (kwh or 0.0) * FLOAT32_EPS)
        band = (0.0, q) if m.decoder.wrap_kwh is not None else (-u, u)
        shifted = m.assist.counter(t, m.cum, band, step.kind.value if step.estimated else "")
        if shifted is not None and m.flushed_tail is not None:
            m.flushed_tail = min(m.flushed_tail, shifted)  # those knots are written again
        if m.next_interval is None:  # the first whole interval from this reading on
            first = floor_interval(ts, self._cfg.interval_min, self._tz)
            m.next_interval = (
                first if first == ts else next_boundary(ts, self._cfg.interval_min, self._tz)
            )
        m.dirty = True

    # ---- output --------------------------------------------------------------------
    def process(self) -> None:
        """Close every interval and booking whose end the readings have passed."""
        step = timedelta(minutes=self._cfg.interval_min)
        for m in self._meters.values():
            while m.next_interval is not None and m.curve.end is not None:
                start, end = m.next_interval, m.next_interval + step
                got = m.curve.energy(start.timestamp(), end.timestamp())
                if got is None:
                    break
                kwh, why = got
                rec = EnergyInterval(
                    kind="meter", subject=m.id, zone=m.zone, start=start, end=end,
                    kwh=round(kwh, 4), estimated=bool(why), reasons=sorted(why),
                )  # fmt: skip
                self._emit(rec)
                m.next_interval = next_boundary(start, self._cfg.interval_min, self._tz)
                m.dirty = True
                if m.zone is not None:
                    self._zone_interval(m.zone, rec)
        self._close_bookings()

    def _zone_interval(self, zone: str, rec: EnergyInterval) -> None:
        acc = self._zone_acc.setdefault((zone, rec.start), _ZoneAcc())
        acc.meters[rec.subject] = rec
        if len(acc.meters) < len(self._zone_meters.get(zone, ())):
            return
        del self._zone_acc[(zone, rec.start)]
        reasons = sorted({r for i in acc.meters.values() for r in i.reasons})
        self._emit(
            EnergyInterval(
                kind="zone", subject=zone, zone=zone, start=rec.start, end=rec.end,
                kwh=round(sum(i.kwh for i in acc.meters.values()), 4),
                estimated=any(i.estimated for i in acc.meters.values()), reasons=reasons,
            )
        )  # fmt: skip

    def _close_bookings(self) -> None:
        if self._bookings is None:
            return
        now = self._clock.now()
        oldest = now - timedelta(hours=self._cfg.history_h)
        windows: list[Window] = []
        for b in self._bookings():
            if b.status != "confirmed":
                continue
            try:
                ws, we = self._window(b)
            except Exception as exc:  # one odd booking must not stop the others
                log.warning("booking_window_failed", booking=b.booking_id, error=repr(exc))
                continue
            if we < oldest or we <= ws:
                continue
            windows.append(Window(b.booking_id, b.zone, ws.timestamp(), we.timestamp()))
        meter_zone = {m.id: m.zone for m in self._meters.values() if m.zone is not None}
        settle = self._cfg.settle_s
        for w in windows:
            key = f"{_iso(w.start)}/{_iso(w.end)}"
            if self._done.get(w.booking_id) == key or w.end + settle > now.timestamp():
                continue
            share = booking_share(w, windows, meter_zone, self._served, self._energy)
            if share is None or not share.meters:
                continue  # a meter has no readings past the end yet, or no meter serves it
            self._done[w.booking_id] = key
            self._emit(
                BookingEnergy(
                    booking_id=w.booking_id, zone=w.zone,
                    start=datetime.fromtimestamp(w.start, UTC),
                    end=datetime.fromtimestamp(w.end, UTC),
                    kwh=round(share.kwh, 4),
                    meters={k: round(v, 4) for k, v in share.meters.items()},
                    estimated=bool(share.reasons), reasons=sorted(share.reasons),
                )
            )  # fmt: skip

    def _energy(self, meter: str, a: float, b: float) -> tuple[float, set[str]] | None:
        """The meter's own energy in [a, b]: its reading less its sub-meters' readings."""
        got = self._meters[meter].curve.energy(a, b)
        if got is None:
            return None
        kwh, why = got
        for sub in self._downstream.get(meter, ()):
            part = self._meters[sub].curve.energy(a, b)
            if part is None:
                return None
            kwh -= part[0]
            why = why | part[1]
        return kwh, why

    # ---- queries ------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, object]]:
        """Per meter: cumulative kWh, last reading, pending interval, rejected readings."""
        return {
            m.id: {
                "zone": m.zone,
                "cum_kwh": round(m.cum, 3),
                "last_reading": _iso(m.curve.last_reading_t),
                "next_interval": m.next_interval.isoformat() if m.next_interval else None,
                "rejected": m.rejected,
                "last_reject": m.last_reject or None,
            }
            for m in self._meters.values()
        }

    # ---- persistence ------------------------------------------------------------
    async def load(self) -> None:
        await self._db.migrate(store.SCHEMA)
        since = self._clock.now() - timedelta(hours=self._cfg.history_h)
        states, knots, done = await self._db.run(
            lambda c: store.load(c, since.timestamp(), since.isoformat())
        )
        self._done = done
        for mid, st in states.items():
            m = self._meters.get(mid)
            if m is None:
                continue
            m.decoder.last_t, m.decoder.last_kwh = st.last_t, st.last_kwh
            m.cum = st.cum
            m.next_interval = datetime.fromisoformat(st.next_interval) if st.next_interval else None
            for t, c, w in knots.get(mid, []):
                m.curve.times.append(t)
                m.curve.cum.append(c)
                m.curve.why.append(w)
            m.curve.last_reading_t = st.last_reading_t
            m.flushed_tail = m.curve.end
            m.assist.resume()

    async def flush(self) -> None:
        intervals, self._out_intervals = self._out_intervals, []
        bookings, self._out_bookings = self._out_bookings, []
        prune = self._clock.now().timestamp() - self._cfg.history_h * 3600
        meters = []
        for m in self._meters.values():
            if not m.dirty:
                continue
            m.dirty = False
            m.curve.prune(prune)
            since = m.flushed_tail
            c = m.curve
            knots = [
                (t, cum, w) for t, cum, w in zip(c.times, c.cum, c.why, strict=True)
                if since is None or t >= since
            ]  # fmt: skip
            state = store.MeterState(
                last_t=m.decoder.last_t, last_kwh=m.decoder.last_kwh, cum=m.cum,
                last_reading_t=c.last_reading_t,
                next_interval=m.next_interval.isoformat() if m.next_interval else None,
            )  # fmt: skip
            meters.append((m, since, knots, state))

        def write(conn: sqlite3.Connection) -> None:
            store.save_intervals(conn, intervals)
            store.save_bookings(conn, bookings)
            for m, since, knots, state in meters:
                store.save_meter(conn, m.id, state, since, knots, prune)

        try:
            await self._db.transaction(write)
        except BaseException:  # cancelled too: the idempotent write is redone
            self._out_intervals[:0] = intervals
            self._out_bookings[:0] = bookings
            for m, *_ in meters:
                m.dirty = True
            raise
        for m, *_ in meters:
            m.flushed_tail = m.curve.end

    async def run(self, ready: Callable[[], None]) -> None:
        await self.load()
        if self._points is None:
            raise ValueError("EnergyService.run needs the point table (points=...)")
        with self._points.subscribe(self.on_event):
            ready()
            flushed = self._clock.monotonic()
            try:
                while True:
                    self.process()
                    if self._clock.monotonic() - flushed >= FLUSH_S:
                        flushed = self._clock.monotonic()
                        try:
                            await self.flush()
                        except Exception:
                            log.exception("energy_flush_failed")
                    await self._clock.sleep(PROCESS_S)
            finally:
                await asyncio.shield(self.flush())


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat() if t is not None else None
