"""Zone detectors, evaluated on a tick: HVAC not ready after a booking start, and
energy drawn in a zone nobody wants (lights left on)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.alarms.config import AlarmsConfig
from edge.alarms.field import Report, number, readable
from edge.field.points import PointTable
from rules.model import Booking

Bookings = Callable[[], Iterable[Booking]]
ZoneWanted = Callable[[str, datetime], bool]


class HvacReadyDetector:
    """`hvac_not_ready` on an HVAC device when, from `hvac_ready_after_min` after the start
    of a booking it serves until the booking's end, room_temp is more than the tolerance
    away from the setpoint it was given."""

    def __init__(
        self,
        report: Report,
        points: PointTable,
        serves: dict[str, set[str]],
        hvac_points: dict[str, tuple[str | None, str | None]],
        bookings: Bookings,
        cfg: AlarmsConfig,
    ) -> None:
        self._report = report
        self._points = points
        self._serves = serves
        """hvac device -> zones whose bookings it conditions"""
        self._hvac_points = hvac_points
        """hvac device -> (room temperature ref, setpoint ref), by role"""
        self._bookings = bookings
        self._after = timedelta(minutes=cfg.hvac_ready_after_min)
        self._tol = cfg.hvac_tolerance_k

    def tick(self, now: datetime) -> None:
        live = [
            b
            for b in self._bookings()
            if b.status == "confirmed" and b.start + self._after <= now < b.end
        ]
        for device, zones in self._serves.items():
            mine = sorted((b for b in live if b.zone in zones), key=lambda b: b.start)
            room_ref, target_ref = self._hvac_points.get(device, (None, None))
            room = number(self._points.get(room_ref)) if room_ref else None
            target = number(self._points.get(target_ref)) if target_ref else None
            if mine and (room is None or target is None):
                continue  # unreadable: comm_lost says so; keep the last judgement
            active = bool(mine) and abs(room - target) > self._tol  # type: ignore[operator]
            b = mine[0] if mine else None
            message = (
                f"{device}: room {room:.1f} C, target {target:.1f} C, "
                f"{self._after.total_seconds() / 60:.0f} min after start of booking "
                f"{b.booking_id} ({b.zone})"
                if active and b is not None
                else f"{device}: within {self._tol:g} K of target or no booking running"
            )
            self._report("hvac_not_ready", device, active, message, device=device,
                         zone=b.zone if b is not None else None)  # fmt: skip


@dataclass
class ZoneLoads:
    lights: list[str] = field(default_factory=list)
    """Light output refs (on/off or level): any truthy value counts as lit."""
    meters: list[str] = field(default_factory=list)
    """Power points (role meter.power) of the meters whose draw is this zone's."""


class LightsLeftOnDetector:
    """`lights_left_on` for a zone drawing energy (a light output on, or metered power above
    the floor) while `zone_wanted(zone, t)` says nothing (booking, schedule, rule) wants it."""

    def __init__(
        self,
        report: Report,
        points: PointTable,
        zones: dict[str, ZoneLoads],
        zone_wanted: ZoneWanted,
        cfg: AlarmsConfig,
    ) -> None:
        self._report = report
        self._points = points
        self._zones = zones
        self._wanted = zone_wanted
        self._floor = cfg.zone_power_floor_w
        self._floors = cfg.zone_power_floor

    def tick(self, now: datetime) -> None:
        for zone, loads in self._zones.items():
            lit = []
            for ref in loads.lights:
                s = self._points.get(ref)
                if readable(s) and bool(s.value):  # type: ignore[union-attr]
                    lit.append(ref)
            power = [number(self._points.get(ref)) for ref in loads.meters]
            watts = sum(p for p in power if p is not None)
            drawing = bool(lit) or watts > self._floors.get(zone, self._floor)
            try:
                wanted = self._wanted(zone, now)
            except Exception as exc:  # a rules hiccup must not look like "nobody wants it"
                self._report("lights_left_on", zone, False, f"wanted unknown: {exc!r}", zone=zone)
                continue
            active = drawing and not wanted
            what = f"{len(lit)} light output(s) on" if lit else f"{watts:.0f} W drawn"
            message = (
                f"zone {zone}: {what} with no booking, schedule or rule wanting it"
                if active
                else f"zone {zone}: nothing drawn or wanted"
            )
            self._report("lights_left_on", zone, active, message, zone=zone)
