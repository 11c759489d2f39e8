"""Checks of `[alarms]` against the rest of the venue config (for the config loader)."""

from __future__ import annotations

from edge.alarms.classes import builtin_classes
from edge.alarms.config import AlarmsConfig
from edge.config.model import VenueConfig


def alarm_config_problems(venue: VenueConfig, cfg: AlarmsConfig) -> list[tuple[str, str]]:
    """(path, message) for names that refer to nothing; empty when all is well."""
    out: list[tuple[str, str]] = []
    known = sorted(builtin_classes(AlarmsConfig()))
    for name in sorted(set(cfg.classes) - set(known)):
        out.append((f"alarms.classes.{name}", f"no alarm class {name!r}; known: {known}"))
    devices = {d.id for d in venue.devices}
    for dev in sorted(set(cfg.maintenance) - devices):
        out.append((f"alarms.maintenance.{dev}", f"no device {dev!r} in [[devices]]"))
    zones = {z.id for z in venue.zones}
    for zone in sorted(set(cfg.zone_power_floor) - zones):
        out.append((f"alarms.zone_power_floor.{zone}", f"no zone {zone!r} in [[zones]]"))
    if cfg.temp_min_c >= cfg.temp_max_c:
        out.append(("alarms.temp_min_c", "must be below temp_max_c"))
    if cfg.humidity_min_pct >= cfg.humidity_max_pct:
        out.append(("alarms.humidity_min_pct", "must be below humidity_max_pct"))
    return out
