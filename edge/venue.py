"""The venue in force: the config decoded once, checked across domains, and what derives
from it (the rules' Site, the point inventory, the outputs the gateway drives).

`load_venue(path)` is the one entry: syntax, types and references (`edge.config`),
then the checks that need the services' knowledge (rules, alarms, keys, energy
nesting), every problem at once. A reload builds a new `Venue`; nothing edits one.
`VenueRef` holds the venue in force for the daemon's long-lived parts (operations,
command checks, booking sync); the daemon swaps it only after a reload has started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drivers.modbus.points import DataType
from drivers.modbus.profiles import load_profile, resolve
from edge.access.keys import key_problem
from edge.alarms.validate import alarm_config_problems
from edge.automation.site import build_site
from edge.config.errors import ConfigError, Problem
from edge.config.load import check, parse
from edge.config.model import VenueConfig
from edge.energy.nesting import upstream_meters
from edge.profiles import GPIO_PROFILES, enum_labels, profile_points
from rules.emergency import emergency_outputs
from rules.model import Site

JSON_TYPE = {
    DataType.BOOL: "boolean",
    DataType.FLOAT32: "number",
    DataType.FLOAT64: "number",
    DataType.STRING: "string",
}


@dataclass(frozen=True, slots=True)
class PointInfo:
    """One point as the profile describes it, for validation, explain and the cloud."""

    ref: str
    device: str
    name: str
    datatype: str
    """The wire datatype: bool, int16 ... float32, string (an enum is its raw type)."""
    json_type: str
    """boolean, integer, number or string (an enum reads as a string label)."""
    unit: str = ""
    writable: bool = False
    """The device accepts writes to it."""
    controlled: bool = False
    """The gateway drives it (a zone light, HVAC, gate relay, rule or schedule output)."""
    min: float | None = None
    max: float | None = None
    enum: Mapping[str, str] | None = None
    zone: str | None = None


@dataclass(frozen=True)
class Venue:
    config: VenueConfig
    site: Site
    points: Mapping[str, PointInfo]
    outputs: frozenset[str]
    """Every point the gateway drives (what `set_point` and `edgectl write` may target)."""
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """output -> {raw enum number: label}: what the device reads back."""
    zone_of: Mapping[str, str] = field(default_factory=dict)
    """device or output -> zone."""
    relays: Mapping[str, str] = field(default_factory=dict)
    """gate id -> the relay output that opens it."""


class VenueRef:
    """The venue in force (swapped by the daemon, read by long-lived parts)."""

    def __init__(self, venue: Venue) -> None:
        self._venue = venue

    def get(self) -> Venue:
        return self._venue

    def set(self, venue: Venue) -> None:
        self._venue = venue


def venue_problems(cfg: VenueConfig) -> list[Problem]:
    """Everything wrong with a decoded config, across domains, in one list."""
    out = check(cfg, profile_points)
    out += [Problem(path, message) for path, message in alarm_config_problems(cfg, cfg.alarms)]
    keyed = (("access.keys", cfg.access.keys), ("uplink.command_keys", cfg.uplink.command_keys))
    for where, entries in keyed:
        for i, entry in enumerate(entries):
            problem = key_problem(entry)
            if problem is not None:
                out.append(Problem(f"{where}[{i}]", problem))
    meter_zone = {d.id: d.zone for d in cfg.devices if d.profile == "energy_meter"}
    parents = {z.id: z.parent for z in cfg.zones}
    _, nesting = upstream_meters(meter_zone, parents, cfg.energy.upstream, cfg.energy.nested_meters)
    out += [Problem(path, message) for path, message in nesting]
    if not out:  # the rules need valid references first
        _, rules = build_site(cfg)
        out += rules
    return out


def load_venue(path: str | Path) -> Venue:
    """Read, decode and check the venue config; raises ConfigError with every problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, [Problem("", "file not found", "pass --config PATH")]) from None
    except OSError as exc:
        raise ConfigError(source, [Problem("", f"cannot read file: {exc.strerror}")]) from None
    return venue_from_bytes(raw, source)


def venue_from_bytes(raw: bytes, source: str) -> Venue:
    cfg = parse(raw, source)
    problems = venue_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return build_venue(cfg)


def build_venue(cfg: VenueConfig) -> Venue:
    """The derived venue of a config that passed `venue_problems`."""
    site, problems = build_site(cfg)
    if site is None:
        raise ConfigError("venue", problems)
    relays = gate_relays(cfg)
    outputs = _driven_outputs(site) | frozenset(relays.values())
    zone_of = {d.id: d.zone for d in cfg.devices if d.zone}
    zone_of.update({ref: z.id for z in cfg.zones for ref in z.lights})
    return Venue(
        config=cfg,
        site=site,
        points=_inventory(cfg, outputs, zone_of),
        outputs=outputs,
        labels=enum_labels((d.id, d.profile, d.points) for d in cfg.devices),
        zone_of=zone_of,
        relays=relays,
    )


RELAY_POINT = {"gate_controller": "relay", "gpio_relay": "relay"}


def gate_relays(cfg: VenueConfig) -> dict[str, str]:
    """gate id -> the relay output that opens it."""
    devices = {d.id: d for d in cfg.devices}
    out: dict[str, str] = {}
    for g in cfg.access.gates:
        dev = devices.get(g.device)
        point = RELAY_POINT.get(dev.profile) if dev is not None else None
        if point is not None:
            out[g.id] = f"{g.device}.{point}"
    return out


def _driven_outputs(site: Site) -> frozenset[str]:
    out: set[str] = set(site.defaults)
    for z in site.zones:
        out.update(light.output for light in z.lights)
        for h in z.hvac:
            out.update(p for p in (h.enable, h.setpoint) if p)
    for s in site.schedules:
        out.update(o.output for o in s.outputs)
    for r in site.event_rules:
        out.update(a.output for a in r.actions)
    out.update(emergency_outputs(site.emergency, site.zones))
    return frozenset(out)


def _inventory(
    cfg: VenueConfig, outputs: frozenset[str], zone_of: Mapping[str, str]
) -> dict[str, PointInfo]:
    out: dict[str, PointInfo] = {}
    for d in cfg.devices:
        zone = d.zone
        if d.profile in GPIO_PROFILES:
            for name in sorted(GPIO_PROFILES[d.profile]):
                ref = f"{d.id}.{name}"
                out[ref] = PointInfo(
                    ref, d.id, name, "bool", "boolean",
                    writable=d.profile == "gpio_relay", controlled=ref in outputs,
                    zone=zone_of.get(ref, zone),
                )  # fmt: skip
            continue
        profile = load_profile(d.profile)
        if d.points:
            profile = resolve(profile, d.points)
        for p in profile.points:
            ref = f"{d.id}.{p.name}"
            integer = p.datatype not in JSON_TYPE and p.scale == 1.0 and not p.precision
            json_type = (
                "string"
                if p.enum
                else JSON_TYPE.get(p.datatype, "integer" if integer else "number")
            )
            out[ref] = PointInfo(
                ref, d.id, p.name, p.datatype.value, json_type, unit=p.unit,
                writable=p.writable, controlled=ref in outputs, min=p.min, max=p.max,
                enum=dict(p.enum) if p.enum else None, zone=zone_of.get(ref, zone),
            )  # fmt: skip
    return out
