"""Map the venue config onto the rules engine's `Site`.

Zones, their lights and HVAC come from `[[zones]]` and the roles of the devices' points
(`hvac.enable`, `hvac.setpoint`, `env.temperature` or `hvac.room_temp`); the `[rules]`
table adds templates, schedules, event rules, defaults and the emergency policy
(docs/rules.md). Fire alarm points (role `fire.alarm`) and egress gates (their relays,
role `gate.relay`) are derived unless `[rules.emergency]` names them itself.
"""

from __future__ import annotations

from typing import Any

from edge.config.errors import Problem
from edge.config.model import VenueConfig
from edge.roles import RoleMap
from rules.config import SiteConfigError, load_site
from rules.model import Site

TEMP_ROLES = ("env.temperature", "hvac.room_temp")


def _zone(cfg: VenueConfig, zone_index: int, roles: RoleMap) -> dict[str, Any]:
    z = cfg.zones[zone_index]
    out: dict[str, Any] = {"id": z.id, "kind": z.kind}
    if z.parent is not None:
        out["parent"] = z.parent
    if z.target_temp_c is not None:
        out["target_temp_c"] = z.target_temp_c
    out["lights"] = [{"output": ref} for ref in z.lights]
    hvac = []
    for dev in z.hvac:
        enable, setpoint = roles.ref(dev, "hvac.enable"), roles.ref(dev, "hvac.setpoint")
        if enable is not None or setpoint is not None:
            hvac.append({k: v for k, v in (("enable", enable), ("setpoint", setpoint)) if v})
    out["hvac"] = hvac
    for role in TEMP_ROLES:  # a room sensor first, then the HVAC's own reading
        ref = next((r for dev in [*z.sensors, *z.hvac] if (r := roles.ref(dev, role))), None)
        if ref is not None:
            out["temp_point"] = ref
            break
    return out


def _emergency(
    cfg: VenueConfig, given: dict[str, Any], roles: RoleMap, relays: dict[str, str]
) -> dict[str, Any]:
    out = dict(given)
    if "alarms" not in out:
        out["alarms"] = [{"point": p.ref} for p in roles.points("fire.alarm")]
    if "egress_gates" not in out:
        out["egress_gates"] = [
            {"output": relays[g.id]} for g in cfg.access.gates if g.egress and g.id in relays
        ]
    return out


def site_mapping(cfg: VenueConfig, roles: RoleMap, relays: dict[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = dict(cfg.rules)
    raw["timezone"] = cfg.site.timezone
    raw["zones"] = [_zone(cfg, i, roles) for i in range(len(cfg.zones))]
    given = raw.get("emergency", {})
    raw["emergency"] = _emergency(cfg, given if isinstance(given, dict) else {}, roles, relays)
    return raw


def build_site(
    cfg: VenueConfig, roles: RoleMap, relays: dict[str, str], known_points: set[str]
) -> tuple[Site | None, list[Problem]]:
    """The rules Site for this venue, or the problems (paths under `rules.`)."""
    try:
        return load_site(site_mapping(cfg, roles, relays), known_points), []
    except SiteConfigError as exc:
        problems = [
            Problem(f"rules.{p.path}" if p.path else "rules", p.message, getattr(p, "hint", ""))
            for p in exc.problems
            if getattr(p, "severity", "error") == "error"
        ]
        return None, problems or [Problem("rules", str(exc))]
