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
    CommLostDetector,
    DoorDetector,
    EnvironmentDetector,
    LampFailureDetector,
)
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
from edge.config.model import VenueConfig
from edge.field.points import PointTable
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


def _zone_loads(cfg: VenueConfig) -> dict[str, ZoneLoads]:
    out: dict[str, ZoneLoads] = {}
    for z in cfg.zones:
        if z.lights:
            out.setdefault(z.id, ZoneLoads()).lights.extend(z.lights)
    for d in cfg.devices:
        if d.profile == "energy_meter" and d.zone is not None:
            out.setdefault(d.zone, ZoneLoads()).meters.append(d.id)
    return out


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
    ) -> None:
        self.engine = engine
        self._clock = clock
        self._points = points
        self._tick_s = cfg.tick_s
        report = self.engine.report
        zone_of = {d.id: d.zone for d in venue.devices}
        by_profile: dict[str, dict[str, str | None]] = {}
        for d in venue.devices:
            by_profile.setdefault(d.profile, {})[d.id] = d.zone
        self._listeners: list[Callable[[BusEvent], None]] = []
        self._tickers: list[Callable[[datetime], None]] = []

        comm = CommLostDetector(report, dict(zone_of))
        lamps = LampFailureDetector(report, points, by_profile.get("lighting_8ch", {}), cfg)
        doors = DoorDetector(report, points, by_profile.get("gate_controller", {}), cfg,
                             clock.monotonic)  # fmt: skip
        env = EnvironmentDetector(report, by_profile.get("env_sensor", {}), cfg)
        maint = MaintenanceDetector(report, counters, {d.id: d.profile for d in venue.devices},
                                    zone_of, cfg)  # fmt: skip
        self._listeners += [comm.on_event, lamps.on_event, doors.on_event, env.on_event,
                            maint.on_event]  # fmt: skip
        self._tickers += [lambda _: doors.tick(), lambda _: maint.tick()]
        if bookings is not None:
            hvac = HvacReadyDetector(report, points, _hvac_serves(venue), bookings, cfg)
            self._tickers.append(hvac.tick)
        if zone_wanted is not None:
            left = LightsLeftOnDetector(report, points, _zone_loads(venue), zone_wanted, cfg)
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
    detail = f"database was corrupt ({report.reason}); moved aside to {report.recovered_from}"
    storage_problem(engine.report, "database", detail)
    storage_problem(engine.report, "database", None)
