"""The `alarms` component: the built-in detectors, wired from the config, reporting into
the engine (a store that outlives this component).

Built with the live point table and whichever sources exist (bookings, zone_wanted,
counters, outbox fill, clock sync); a detector whose source is not given is not built.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from drivers.modbus.events import BusEvent
from edge.alarms.classes import builtin_classes
from edge.alarms.config import AlarmsConfig
from edge.alarms.engine import AlarmEngine
from edge.alarms.field import (
    ENV_ROLES,
    Channel,
    CommLostDetector,
    DoorDetector,
    DoorPoints,
    EnvironmentDetector,
    LampFailureDetector,
)
from edge.alarms.fire import FireDetector, FirePoints
from edge.alarms.system import (
    ClockSyncDetector,
    ClockSynced,
    CounterSnapshot,
    LinkAuth,
    LinkAuthDetector,
    MaintenanceDetector,
    OutboxDetector,
    OutboxFill,
    storage_problem,
)
from edge.alarms.zones import (
    Bookings,
    HvacReadyDetector,
    LightsLeftOnDetector,
    ZoneLoads,
    ZoneWanted,
)
from edge.clock import Clock
from edge.config.insecure import unsigned_accepted
from edge.config.model import VenueConfig
from edge.field.points import PointTable
from edge.profiles import shipped as shipped_profiles
from edge.roles import RoleMap, RolePoint
from edge.storage import OpenReport

log = structlog.get_logger("edge.alarms")


def _hvac_serves(cfg: VenueConfig) -> dict[str, set[str]]:
    """hvac device -> its zones plus their descendants that have no HVAC of their own."""
    children: dict[str, list[str]] = {}
    for z in cfg.zones:
        if z.parent is not None:
            children.setdefault(z.parent, []).append(z.id)
    own = {z.id: bool(z.hvac) for z in cfg.zones}
    out: dict[str, set[str]] = {}
    for z in cfg.zones:
        for dev in z.hvac:
            served = out.setdefault(dev, set())
            stack = [z.id]
            while stack:
                zid = stack.pop()
                if zid in served:
                    continue
                served.add(zid)
                stack.extend(c for c in children.get(zid, []) if not own.get(c))
    return out


def _zone_loads(cfg: VenueConfig, roles: RoleMap) -> dict[str, ZoneLoads]:
    out: dict[str, ZoneLoads] = {}
    for z in cfg.zones:
        if z.lights:
            out.setdefault(z.id, ZoneLoads()).lights.extend(z.lights)
    zone_of = {d.id: d.zone for d in cfg.devices}
    for p in roles.points("meter.power"):
        zone = zone_of.get(p.device)
        if zone is not None:
            out.setdefault(zone, ZoneLoads()).meters.append(p.ref)
    return out


def _channels(roles: RoleMap) -> list[Channel]:
    out = []
    for sw in roles.points("lighting.switch"):
        group = sw.group

        def other(role: str, sw: RolePoint = sw, group: str | None = group) -> str | None:
            p = roles.point(sw.device, role, group) if group is not None else None
            return None if p is None else p.point

        out.append(
            Channel(
                sw.device,
                group or sw.point,
                sw.point,
                other("lighting.level"),
                other("lighting.feedback"),
                other("lighting.current"),
            )
        )
    return out


def _doors(roles: RoleMap) -> dict[str, DoorPoints]:
    devices = set(roles.devices("door.contact") + roles.devices("door.forced"))
    devices |= set(roles.devices("door.held_open"))

    def name(dev: str, role: str) -> str | None:
        p = roles.point(dev, role)
        return None if p is None else p.point

    return {
        d: DoorPoints(name(d, "door.contact"), name(d, "door.forced"), name(d, "door.held_open"))
        for d in sorted(devices)
    }


def _fire(roles: RoleMap) -> FirePoints:
    def keys(role: str) -> set[tuple[str, str]]:
        return {(p.device, p.point) for p in roles.points(role)}

    return FirePoints(
        alarm=keys("fire.alarm"),
        fault=keys("fire.fault"),
        loop_fault={
            (p.device, p.point): p.group or p.point for p in roles.points("fire.loop_fault")
        },
        device_status=keys("fire.device_status"),
        hvac_fault=keys("hvac.fault"),
    )


class AlarmService:
    name = "alarms"

    def __init__(
        self,
        venue: VenueConfig,
        cfg: AlarmsConfig,
        engine: AlarmEngine,
        clock: Clock,
        points: PointTable,
        *,
        bookings: Bookings | None = None,
        zone_wanted: ZoneWanted | None = None,
        counters: CounterSnapshot | None = None,
        outbox_fill: OutboxFill | None = None,
        clock_synced: ClockSynced | None = None,
        link: LinkAuth | None = None,
        roles: RoleMap | None = None,
    ) -> None:
        self.engine = engine
        self._clock = clock
        self._points = points
        self._tick_s = cfg.tick_s
        report = self.engine.report
        roles = roles or RoleMap.of(venue, shipped_profiles())
        zone_of = {d.id: d.zone for d in venue.devices}
        self._listeners: list[Callable[[BusEvent], None]] = []
        self._tickers: list[Callable[[datetime], None]] = []

        comm = CommLostDetector(report, dict(zone_of))
        lamps = LampFailureDetector(report, points, _channels(roles), zone_of, cfg)
        doors = DoorDetector(report, points, _doors(roles), zone_of, cfg, clock.monotonic)
        env_points = {(p.device, p.point): r for r in ENV_ROLES for p in roles.points(r)}
        env = EnvironmentDetector(report, env_points, zone_of, cfg)
        fire = FireDetector(report, _fire(roles), zone_of)
        maint = MaintenanceDetector(report, counters, {d.id: d.profile for d in venue.devices},
                                    zone_of, cfg)  # fmt: skip
        self._listeners += [comm.on_event, lamps.on_event, doors.on_event, env.on_event,
                            fire.on_event, maint.on_event]  # fmt: skip
        self._tickers += [lambda _: doors.tick(), lambda _: maint.tick()]
        if bookings is not None:
            serves = _hvac_serves(venue)
            hvac_points = {
                dev: (roles.ref(dev, "hvac.room_temp"), roles.ref(dev, "hvac.setpoint"))
                for dev in serves
            }
            hvac = HvacReadyDetector(report, points, serves, hvac_points, bookings, cfg)
            self._tickers.append(hvac.tick)
        if zone_wanted is not None:
            loads = _zone_loads(venue, roles)
            left = LightsLeftOnDetector(report, points, loads, zone_wanted, cfg)
            self._tickers.append(left.tick)
        if outbox_fill is not None:
            outbox = OutboxDetector(report, outbox_fill, cfg)
            self._tickers.append(lambda _: outbox.tick())
        if link is not None:
            auth = LinkAuthDetector(report, link)
            self._tickers.append(lambda _: auth.tick())
        if clock_synced is not None:
            sync = ClockSyncDetector(report, clock_synced)
            self._tickers.append(lambda _: sync.tick())
        unsigned = unsigned_accepted(venue)
        self._tickers.append(
            lambda _: report(
                "unsigned_accepted", "uplink", bool(unsigned),
                f"{' and '.join(unsigned)} accepted unsigned from {venue.uplink.host} "
                "(uplink.allow_unsigned)" if unsigned else "every command and booking is signed",
            )
        )  # fmt: skip

    # ---- what the lead calls -----------------------------------------------------
    def storage_error(self, detail: str, source: str = "storage") -> None:
        """A storage write failed: raises the (latching) `storage_error` alarm."""
        storage_problem(self.engine.report, source, detail)

    def storage_ok(self, source: str = "storage") -> None:
        """Writes succeed again: the alarm returns to normal (still needs an ack)."""
        storage_problem(self.engine.report, source, None)

    def on_event(self, event: BusEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # one detector's bug must not silence the others
                log.exception("detector_failed")

    def tick(self) -> None:
        now = self._clock.now()
        for ticker in self._tickers:
            try:
                ticker(now)
            except Exception:
                log.exception("detector_tick_failed")
        self.engine.tick()

    async def run(self, ready: Callable[[], None]) -> None:
        with self._points.subscribe(self.on_event):
            ready()
            while True:
                self.tick()
                await self._clock.sleep(self._tick_s)


def configure_engine(engine: AlarmEngine, cfg: AlarmsConfig) -> None:
    """Apply the `[alarms]` table in force to the engine (at start and on reload)."""
    classes = builtin_classes(cfg)
    engine.configure(
        classes,
        disabled=frozenset(builtin_classes(AlarmsConfig())) - frozenset(classes),
        shelve_max=timedelta(hours=cfg.shelve_max_h),
        retention=timedelta(days=cfg.retention_days),
    )


def report_database_open(engine: AlarmEngine, report: OpenReport) -> None:
    """A database found damaged at open leaves a `returned` storage_error to acknowledge."""
    if report.recovered_from is None:
        return
    salvage = report.salvage
    losses = [t.lost for t in salvage.tables] if salvage is not None else [None]
    if None in losses or (salvage is not None and salvage.problems):
        lost = "an unknown number of rows lost"
    else:
        lost = f"{sum(n or 0 for n in losses)} rows lost"
    detail = (
        f"database was damaged ({report.reason}); salvaged into a fresh file, {lost}; "
        f"the damaged file was moved aside to {report.recovered_from}"
    )
    storage_problem(engine.report, "database", detail)
    storage_problem(engine.report, "database", None)
