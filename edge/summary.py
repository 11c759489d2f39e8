"""The twin's headline figures: a retained `summary` for the venue and every zone.

Lights on, devices online, gates with a fault, cameras online, fire devices by state, open
alarms by severity and energy since local midnight, counted from the stores by role (never
by profile name). The `summary` component recomputes them every `TICK_S` and queues a
`summary` message when a figure changed; the broker keeps
the latest (retained), so a consumer that joins late sees the present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import structlog

from edge.alarms.model import AlarmRecord
from edge.clock import Clock
from edge.energy import EnergyInterval
from edge.energy.nesting import upstream_meters
from edge.field.points import PointTable
from edge.journal import MAX_QUERY_ROWS, Journal
from edge.stores import EnergyRecord, Stores
from edge.uplink.contract import AlarmCounts, Figures, SummaryBody
from edge.venue import Venue, VenueRef

log = structlog.get_logger("edge.summary")
TICK_S = 5.0
"""Counting walks every point: once a second cost a daemon-day's worth of CPU (86,400 walks)."""
MIN_INTERVAL_S = TICK_S
FIRE_ROLES = ("fire.devices_normal", "fire.devices_alarm", "fire.devices_fault")


@dataclass
class _Tally:
    lights_on: int = 0
    lights_total: int = 0
    devices_online: int = 0
    devices_total: int = 0
    gates_faulted: int = 0
    gates_total: int = 0
    cameras_online: int = 0
    cameras_total: int = 0
    fire: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIRE_ROLES, 0))
    alarms: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("critical", "major", "minor", "warning"), 0)
    )
    energy_kwh: float = 0.0

    def figures(self) -> Figures:
        return Figures(
            lights_on=self.lights_on, lights_total=self.lights_total,
            devices_online=self.devices_online, devices_total=self.devices_total,
            gates_faulted=self.gates_faulted, gates_total=self.gates_total,
            cameras_online=self.cameras_online, cameras_total=self.cameras_total,
            fire_devices_normal=self.fire["fire.devices_normal"],
            fire_devices_alarm=self.fire["fire.devices_alarm"],
            fire_devices_fault=self.fire["fire.devices_fault"],
            alarms_open=AlarmCounts(**self.alarms),
            energy_today_kwh=round(self.energy_kwh, 3),
        )  # fmt: skip


@dataclass
class EnergyToday:
    """kWh since local midnight: the venue's (top-level meters) and each zone's own.

    Fed with each interval once (by kind, subject and end), from the journal at start and
    live afterwards, so an interval seen both ways counts once."""

    day: date | None = None
    top: frozenset[str] = frozenset()
    venue: float = 0.0
    zones: dict[str, float] = field(default_factory=dict)
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, kind: str, subject: str, zone: str | None, end: datetime, kwh: float) -> None:
        key = (kind, subject, end.astimezone(UTC).isoformat())
        if key in self.seen:
            return
        self.seen.add(key)
        if kind == "meter" and subject in self.top:
            self.venue += kwh
        elif kind == "zone" and zone:
            self.zones[zone] = self.zones.get(zone, 0.0) + kwh


def summarise(
    venue: Venue,
    points: PointTable,
    open_alarms: Iterable[AlarmRecord],
    energy: EnergyToday,
    day: str,
) -> SummaryBody:
    """Every figure for the venue and each zone (a zone counts its sub-zones too)."""
    cfg = venue.config
    parents = {z.id: z.parent for z in cfg.zones}

    def chain(zone: str | None) -> list[str]:
        out: list[str] = []
        while zone is not None and zone not in out:
            out.append(zone)
            zone = parents.get(zone)
        return out

    whole = _Tally()
    zones = {z.id: _Tally() for z in cfg.zones}

    def each(zone: str | None) -> list[_Tally]:
        return [whole, *(zones[z] for z in chain(zone) if z in zones)]

    online = points.devices()
    device_zone = {d.id: d.zone for d in cfg.devices}
    for d in cfg.devices:
        for t in each(d.zone):
            t.devices_total += 1
            t.devices_online += bool(online.get(d.id))
    for ref, info in venue.points.items():
        roles = info.roles
        if not roles:
            continue
        st = points.get(ref)
        value = None if st is None else st.value
        zone = info.zone or device_zone.get(info.device)
        if "lighting.switch" in roles:
            for t in each(zone):
                t.lights_total += 1
                t.lights_on += value is True
        if "camera.online" in roles:
            for t in each(zone):
                t.cameras_total += 1
                t.cameras_online += value is True
        for role in FIRE_ROLES:
            if role in roles and isinstance(value, int) and not isinstance(value, bool):
                for t in each(zone):
                    t.fire[role] += value
    alarms = list(open_alarms)
    alarmed = {a.device for a in alarms if a.device}
    for gate in cfg.access.gates:
        faulted = online.get(gate.device) is not True or gate.device in alarmed
        for t in each(device_zone.get(gate.device)):
            t.gates_total += 1
            t.gates_faulted += faulted
    for a in alarms:
        for t in each(a.zone):
            t.alarms[a.severity.value] += 1
    whole.energy_kwh = energy.venue
    for z, t in zones.items():
        t.energy_kwh = energy.zones.get(z, 0.0)
    return SummaryBody(
        day=day, venue=whole.figures(), zones={z: t.figures() for z, t in zones.items()},
        offline=sorted(d.id for d in cfg.devices if online.get(d.id) is not True),
    )  # fmt: skip


def top_level_meters(venue: Venue) -> frozenset[str]:
    """Meters with no meter upstream of them: their sum is the venue's energy, once."""
    cfg = venue.config
    meter_zone = {
        info.device: info.zone or venue.zone_of.get(info.device)
        for info in venue.points.values()
        if "meter.energy_import" in info.roles
    }
    parents = {z.id: z.parent for z in cfg.zones}
    upstream, _ = upstream_meters(
        meter_zone, parents, cfg.energy.upstream, cfg.energy.nested_meters
    )
    return frozenset(m for m in meter_zone if m not in upstream)


async def load_today(journal: Journal, midnight: datetime, today: EnergyToday) -> None:
    """Add the journal's meter and zone intervals that ended since `midnight`."""
    rows = await journal.query(kind="energy", since=midnight, limit=MAX_QUERY_ROWS)
    if len(rows) >= MAX_QUERY_ROWS:
        log.warning("summary_energy_today_partial", rows=len(rows))
    for r in rows:
        end = datetime.fromisoformat(r["ts"]) if isinstance(r["ts"], str) else r["ts"]
        if r["actor"] in ("meter", "zone") and end > midnight:  # at midnight: yesterday's
            today.add(r["actor"], r["subject"], r["zone"], end, float(r["body"].get("kwh", 0.0)))


class SummaryComponent:
    """The `summary` component: figures every TICK_S, queued when they change."""

    name = "summary"

    def __init__(self, venue: VenueRef, stores: Stores, clock: Clock) -> None:
        self._venue = venue
        self._stores = stores
        self._clock = clock
        self._last: SummaryBody | None = None
        self._sent_mono = float("-inf")
        self._energy = EnergyToday()
        self._live: list[EnergyInterval] = []

    async def run(self, ready: Callable[[], None]) -> None:
        with self._stores.energy.subscribe(self._on_energy):
            ready()
            while True:
                try:
                    await self.tick()
                except Exception:  # figures are best effort; the next tick tries again
                    log.exception("summary_failed")
                await self._clock.sleep(TICK_S)

    def _on_energy(self, rec: EnergyRecord) -> None:
        if isinstance(rec, EnergyInterval):
            self._live.append(rec)

    async def tick(self) -> SummaryBody | None:
        """Recompute; queue and return the summary when it changed (and may be sent)."""
        venue = self._venue.get()
        tz = ZoneInfo(venue.config.site.timezone)
        local = self._clock.now().astimezone(tz)
        mono = self._clock.monotonic()
        midnight = datetime.combine(local.date(), time(), tz)
        if self._energy.day != local.date():  # the start, then every local midnight
            self._energy = EnergyToday(day=local.date(), top=top_level_meters(venue))
            await load_today(self._stores.journal, midnight, self._energy)
        live, self._live = self._live, []
        for rec in live:
            if rec.end > midnight:  # one ending at midnight closed yesterday
                self._energy.add(rec.kind, rec.subject, rec.zone, rec.end, rec.kwh)
        body = summarise(
            venue, self._stores.points, self._stores.alarms.open_alarms(), self._energy,
            local.date().isoformat(),
        )  # fmt: skip
        if body == self._last or mono - self._sent_mono < MIN_INTERVAL_S:
            return None
        self._last, self._sent_mono = body, mono
        try:
            self._stores.outbox.put_nowait(body)
        except Exception:  # the outbox logs and counts; the next change is sent anyway
            log.exception("summary_enqueue_failed")
        return body
