"""Map the venue config onto the rules engine's `Site`.

Zones, their lights and HVAC come from `[[zones]]` and the devices' profiles; the
`[rules]` table adds templates, schedules, event rules, defaults and the emergency
policy (docs/rules.md). Fire-panel alarm points and egress gates are derived from the
devices and `[[access.gates]]` unless `[rules.emergency]` names them itself.
"""

from __future__ import annotations

from typing import Any

from edge.config.errors import Problem
from edge.config.model import VenueConfig
from edge.profiles import profile_points
from rules.config import SiteConfigError, load_site
from rules.model import Site

TEMP_POINTS = {"env_sensor": "temperature", "hvac_fancoil": "room_temp"}


def known_points(cfg: VenueConfig) -> set[str]:
    out: set[str] = set()
    for d in cfg.devices:
        for p in profile_points(d.profile) or ():
            out.add(f"{d.id}.{p}")
    return out


def _zone(cfg: VenueConfig, zone_index: int) -> dict[str, Any]:
    z = cfg.zones[zone_index]
    profiles = {d.id: d.profile for d in cfg.devices}
    out: dict[str, Any] = {"id": z.id, "kind": z.kind}
    if z.parent is not None:
        out["parent"] = z.parent
    if z.target_temp_c is not None:
        out["target_temp_c"] = z.target_temp_c
    out["lights"] = [{"output": ref} for ref in z.lights]
    out["hvac"] = [
        {"enable": f"{dev}.on", "setpoint": f"{dev}.setpoint"}
        for dev in z.hvac
        if profiles.get(dev) == "hvac_fancoil"
    ]
    for dev in [*z.sensors, *z.hvac]:
        point = TEMP_POINTS.get(profiles.get(dev, ""))
        if point is not None:
            out["temp_point"] = f"{dev}.{point}"
            break
    return out


def _emergency(cfg: VenueConfig, given: dict[str, Any]) -> dict[str, Any]:
    out = dict(given)
    if "alarms" not in out:
        out["alarms"] = [
            {"point": f"{d.id}.alarm"} for d in cfg.devices if d.profile == "fire_panel"
        ]
    if "egress_gates" not in out:
        devices = {d.id: d for d in cfg.devices}
        gates = []
        for g in cfg.access.gates:
            dev = devices.get(g.device)
            if g.egress and dev is not None:
                point = "relay" if dev.profile in ("gate_controller", "gpio_relay") else None
                if point is not None:
                    gates.append({"output": f"{dev.id}.{point}"})
        out["egress_gates"] = gates
    return out


def site_mapping(cfg: VenueConfig) -> dict[str, Any]:
    raw: dict[str, Any] = dict(cfg.rules)
    raw["timezone"] = cfg.site.timezone
    raw["zones"] = [_zone(cfg, i) for i in range(len(cfg.zones))]
    given = raw.get("emergency", {})
    raw["emergency"] = _emergency(cfg, given if isinstance(given, dict) else {})
    return raw


def build_site(cfg: VenueConfig) -> tuple[Site | None, list[Problem]]:
    """The rules Site for this venue, or the problems (paths under `rules.`)."""
    try:
        return load_site(site_mapping(cfg), known_points(cfg)), []
    except SiteConfigError as exc:
        problems = [
            Problem(f"rules.{p.path}" if p.path else "rules", p.message, getattr(p, "hint", ""))
            for p in exc.problems
            if getattr(p, "severity", "error") == "error"
        ]
        return None, problems or [Problem("rules", str(exc))]
