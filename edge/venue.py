"""The venue in force: the config decoded once, checked across domains, and what derives
from it (the rules' Site, the point inventory, the outputs the gateway drives).

`load_venue(path)` is the one entry: syntax, types and references (`edge.config`),
then the checks that need the services' knowledge (rules, alarms, keys, energy
nesting), every problem at once. A reload builds a new `Venue`; nothing edits one.
`VenueRef` holds the venue in force for the daemon's long-lived parts (operations,
command checks, booking sync); the daemon swaps it only after a reload has started.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drivers.modbus.errors import ProfileError
from drivers.modbus.points import DataType
from edge.access.keys import key_problem
from edge.alarms.validate import alarm_config_problems
from edge.automation.site import build_site
from edge.config.collect import collect
from edge.config.errors import ConfigError, Problem
from edge.config.insecure import insecure_problems
from edge.config.load import check, read_toml
from edge.config.model import VenueConfig
from edge.energy.nesting import upstream_meters
from edge.profiles import GPIO_PROFILES, NETWORK_PROFILES, ProfileBook
from edge.roles import RoleMap
from rules.emergency import emergency_outputs
from rules.model import Site

JSON_TYPE = {
    DataType.BOOL: "boolean",
    DataType.FLOAT32: "number",
    DataType.FLOAT64: "number",
    DataType.STRING: "string",
    DataType.STATUS_TABLE: "string",
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
    roles: tuple[str, ...] = ()
    """What the point means (drivers/roles.py), e.g. `hvac.setpoint`."""


@dataclass(frozen=True, slots=True)
class GateDrive:
    """How a gate opens: its relay, held for `pulse_s`; by the controller itself when it
    has a pulse-length register (written first when a command asks another length),
    else timed by edged."""

    relay: str
    pulse_s: float
    pulse_register: str | None = None


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
    gates: Mapping[str, GateDrive] = field(default_factory=dict)
    """gate id -> how to open it."""
    roles: RoleMap = field(default_factory=lambda: RoleMap(()))
    profiles: ProfileBook = field(default_factory=ProfileBook)


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
    try:
        book = ProfileBook(cfg.profile_dirs)
        book.names()
    except ProfileError as exc:
        return [Problem("profile_dirs", str(exc))]
    out = check(cfg, book.points, book.override_problem)
    out += [Problem(path, message) for path, message in alarm_config_problems(cfg, cfg.alarms)]
    out += insecure_problems(cfg)
    keyed = (
        ("access.keys", cfg.access.keys),
        ("uplink.command_keys", cfg.uplink.command_keys),
        ("uplink.booking_keys", cfg.uplink.booking_keys),
    )
    for where, entries in keyed:
        for i, entry in enumerate(entries):
            problem = key_problem(entry)
            if problem is not None:
                out.append(Problem(f"{where}[{i}]", problem))
    roles = RoleMap.of(cfg, book)
    out += role_problems(cfg, roles, book)
    meter_zone = {d: z for d, z in _meter_zones(cfg, roles).items()}
    parents = {z.id: z.parent for z in cfg.zones}
    _, nesting = upstream_meters(meter_zone, parents, cfg.energy.upstream, cfg.energy.nested_meters)
    out += [Problem(path, message) for path, message in nesting]
    known = {f"{d.id}.{p}" for d in cfg.devices for p in book.points(d.profile) or ()}
    _, rules = build_site(cfg, roles, gate_relays(cfg, roles), known)
    out += _rule_problems_beside(cfg, out, rules) if out else rules
    return out


_DEVICE_PATH = re.compile(r"devices\[(\d+)\]")


def _rule_problems_beside(
    cfg: VenueConfig, others: list[Problem], rules: list[Problem]
) -> list[Problem]:
    """With other problems present, only the rules' own: not the zones, timezone or derived
    emergency policy they mirror, nor points of a device already reported."""
    broken = {
        cfg.devices[int(m.group(1))].id
        for p in others
        if (m := _DEVICE_PATH.match(p.path)) and int(m.group(1)) < len(cfg.devices)
    }
    mirrored: tuple[str, ...] = ("rules.zones", "rules.timezone")
    if "emergency" not in cfg.rules:
        mirrored += ("rules.emergency",)
    return [
        p
        for p in rules
        if not p.path.startswith(mirrored)
        and not any(f"'{d}." in p.message or f"'{d}'" in p.message for d in broken)
    ]


def role_problems(cfg: VenueConfig, roles: RoleMap, book: ProfileBook) -> list[Problem]:
    """A zone's devices must have the roles the zone uses; a gate's device a relay."""
    out: list[Problem] = []
    devices = {d.id: d for d in cfg.devices}

    def usable(dev: str) -> bool:
        """Reported elsewhere if not: an unknown device or profile, bad overrides."""
        d = devices.get(dev)
        return (
            d is not None
            and book.points(d.profile) is not None
            and book.override_problem(d.profile, d.points) is None
        )

    for i, z in enumerate(cfg.zones):
        for j, dev in enumerate(z.hvac):
            if not usable(dev):
                continue
            for role in ("hvac.enable", "hvac.setpoint"):
                if not roles.has(dev, role):
                    out.append(
                        Problem(
                            f"zones[{i}].hvac[{j}]",
                            f"device '{dev}' (profile {devices[dev].profile}) has no point "
                            f"with role {role}",
                            f'tag the point in its profile (roles = ["{role}"]) or list '
                            "the device under `sensors`",
                        )
                    )
        for j, ref in enumerate(z.lights):
            dev, _, point = ref.partition(".")
            if not usable(dev):
                continue
            if point in (book.points(devices[dev].profile) or ()) and not (
                {"lighting.switch", "lighting.level"} & set(roles.roles_of(dev, point))
            ):
                out.append(
                    Problem(
                        f"zones[{i}].lights[{j}]",
                        f"'{ref}' has neither role lighting.switch nor lighting.level",
                        "name a light output, or tag it in the profile",
                    )
                )
    for i, g in enumerate(cfg.access.gates):
        d = devices.get(g.device)
        if (
            d is not None
            and book.points(d.profile) is not None
            and not roles.has(g.device, "gate.relay")
        ):
            out.append(
                Problem(
                    f"access.gates[{i}].device",
                    f"device '{g.device}' (profile {d.profile}) has no point with role gate.relay",
                    "name the gate's relay controller, or tag its relay in the profile",
                )
            )
    return out


def _meter_zones(cfg: VenueConfig, roles: RoleMap) -> dict[str, str | None]:
    zones = {d.id: d.zone for d in cfg.devices}
    return {dev: zones.get(dev) for dev in roles.devices("meter.energy_import")}


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
    return venue_from_data(read_toml(raw, source), source)


def venue_from_data(data: object, source: str) -> Venue:
    """The venue of parsed TOML; ConfigError with every problem, cross-references included
    (checked on the parts that decoded)."""
    collected = collect(data)
    problems = list(collected.problems)
    if collected.config is not None:
        problems += collected.later(venue_problems(collected.config))
    if problems or collected.config is None:
        raise ConfigError(source, problems)
    return build_venue(collected.config)


def build_venue(cfg: VenueConfig) -> Venue:
    """The derived venue of a config that passed `venue_problems`."""
    book = ProfileBook(cfg.profile_dirs)
    roles = RoleMap.of(cfg, book)
    relays = gate_relays(cfg, roles)
    known = {f"{d.id}.{p}" for d in cfg.devices for p in book.points(d.profile) or ()}
    site, problems = build_site(cfg, roles, relays, known)
    if site is None:
        raise ConfigError("venue", problems)
    outputs = _driven_outputs(site) | frozenset(relays.values())
    zone_of = {d.id: d.zone for d in cfg.devices if d.zone}
    zone_of.update({ref: z.id for z in cfg.zones for ref in z.lights})
    drives = {
        g.id: GateDrive(relays[g.id], g.pulse_s, roles.ref(g.device, "gate.pulse_length"))
        for g in cfg.access.gates
        if g.id in relays
    }
    return Venue(
        config=cfg,
        site=site,
        points=_inventory(cfg, outputs, zone_of, book, roles),
        outputs=outputs,
        labels=book.enum_labels((d.id, d.profile, d.points) for d in cfg.devices),
        zone_of=zone_of,
        relays=relays,
        gates=drives,
        roles=roles,
        profiles=book,
    )


def gate_relays(cfg: VenueConfig, roles: RoleMap) -> dict[str, str]:
    """gate id -> the relay output that opens it (its device's point with role gate.relay)."""
    return {g.id: ref for g in cfg.access.gates if (ref := roles.ref(g.device, "gate.relay"))}


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
    cfg: VenueConfig,
    outputs: frozenset[str],
    zone_of: Mapping[str, str],
    book: ProfileBook,
    roles: RoleMap,
) -> dict[str, PointInfo]:
    out: dict[str, PointInfo] = {}
    for d in cfg.devices:
        zone = d.zone
        if d.profile in GPIO_PROFILES or d.profile in NETWORK_PROFILES:
            names = sorted(GPIO_PROFILES.get(d.profile, {"online": ()}))
            for name in names:
                ref = f"{d.id}.{name}"
                out[ref] = PointInfo(
                    ref, d.id, name, "bool", "boolean",
                    writable=d.profile == "gpio_relay", controlled=ref in outputs,
                    zone=zone_of.get(ref, zone), roles=roles.roles_of(d.id, name),
                )  # fmt: skip
            continue
        for p in book.resolved(d.profile, d.points).points:
            ref = sys.intern(f"{d.id}.{p.name}")  # the point table's key is the same string
            whole = p.datatype not in JSON_TYPE and p.scale == 1.0 and not p.precision
            number = "integer" if whole else "number"
            json_type = "string" if p.enum else JSON_TYPE.get(p.datatype, number)
            out[ref] = PointInfo(
                ref, d.id, p.name, p.datatype.value, json_type, unit=p.unit,
                writable=p.writable, controlled=ref in outputs, min=p.min, max=p.max,
                enum=dict(p.enum) if p.enum else None, zone=zone_of.get(ref, zone),
                roles=tuple(p.roles),
            )  # fmt: skip
    return out
