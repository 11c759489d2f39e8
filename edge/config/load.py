"""Load and check the venue config: syntax, types, and references within the config.

Every problem in one run: `collect` keeps what decoded, so the references are checked
even when some types are wrong. Only what the config itself can tell: ids, buses,
devices, zones, profiles and files.
Checks that need the services' own knowledge (rules, alarms, keys, energy nesting) sit
above them, in `edge.venue`, so this package imports no service.
"""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

from edge.config.collect import collect
from edge.config.errors import ConfigError, Problem
from edge.config.model import (
    Bus,
    Device,
    GpioBus,
    ModbusRtuBus,
    ModbusRtuTcpBus,
    ModbusTcpBus,
    NetworkBus,
    SerialLineBus,
    TcpLineBus,
    VenueConfig,
)
from edge.profiles import GPIO_PROFILES, NETWORK_PROFILES
from edge.profiles import shipped as shipped_profiles

ProfilePoints = Callable[[str], set[str] | None]
"""Given a profile name, the names of its points, or None when there is no such profile."""
OverrideCheck = Callable[[str, dict[str, dict[str, object]]], str | None]

MAX_BYTES = 4 * 1024 * 1024


def load(path: str | Path, profile_points: ProfilePoints | None = None) -> VenueConfig:
    """Read, decode and check the config at `path`; raises ConfigError with every problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, [Problem("", "file not found", "pass --config PATH")]) from None
    except OSError as exc:
        raise ConfigError(source, [Problem("", f"cannot read file: {exc.strerror}")]) from None
    return parse(raw, source, profile_points)


def parse(raw: bytes, source: str, profile_points: ProfilePoints | None = None) -> VenueConfig:
    collected = collect(read_toml(raw, source))
    problems = list(collected.problems)
    if collected.config is not None:
        problems += collected.later(check(collected.config, profile_points))
    if problems or collected.config is None:
        raise ConfigError(source, problems)
    return collected.config


def read_toml(raw: bytes, source: str) -> dict[str, object]:
    """The file's TOML as plain data; ConfigError when it is too big, empty or not TOML."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(source, [Problem("", f"file is larger than {MAX_BYTES} bytes")])
    if not raw.strip():
        raise ConfigError(source, [Problem("", "file is empty", "start from examples/venue.toml")])
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [Problem("", f"not UTF-8 text (byte {exc.start})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("", f"not valid TOML: {exc}")]) from None
    return data


def _duplicates(ids: list[str], path: str, what: str) -> list[Problem]:
    counts = Counter(ids)
    return [
        Problem(f"{path}[{i}].id", f"duplicate {what} id '{x}'", "ids must be unique")
        for i, x in enumerate(ids)
        if counts[x] > 1
    ]


def _unknown(ref: str, known: set[str], path: str, what: str) -> Problem:
    import difflib

    close = difflib.get_close_matches(ref, sorted(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"declare it under [[{what}s]]"
    return Problem(path, f"unknown {what} '{ref}'", hint)


def check(
    cfg: VenueConfig,
    profile_points: ProfilePoints | None = None,
    override_problem: OverrideCheck | None = None,
) -> list[Problem]:
    """Cross-field checks on a decoded config (pure apart from file existence).

    `profile_points` and `override_problem` come from the venue's profile book; without
    them profiles are not checked."""
    out: list[Problem] = []
    try:
        zoneinfo.ZoneInfo(cfg.site.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        out.append(
            Problem(
                "site.timezone",
                f"unknown timezone '{cfg.site.timezone}'",
                "use an IANA name such as 'Asia/Shanghai'",
            )
        )
    zones = {z.id for z in cfg.zones}
    buses = {b.id: b for b in cfg.buses}
    devices = {d.id: d for d in cfg.devices}
    out += _duplicates([z.id for z in cfg.zones], "zones", "zone")
    out += _duplicates([b.id for b in cfg.buses], "buses", "bus")
    out += _duplicates([d.id for d in cfg.devices], "devices", "device")
    out += _duplicates([g.id for g in cfg.access.gates], "access.gates", "gate")
    out += _duplicates([k.kid for k in cfg.access.keys], "access.keys", "key")
    out += _check_devices(
        cfg, zones, buses, profile_points, override_problem or shipped_profiles().override_problem
    )
    out += _check_zones(cfg, zones, devices, profile_points)
    for i, g in enumerate(cfg.access.gates):
        if g.device not in devices:
            out.append(_unknown(g.device, set(devices), f"access.gates[{i}].device", "device"))
        for j, z in enumerate(g.zones):
            if z not in zones:
                out.append(_unknown(z, zones, f"access.gates[{i}].zones[{j}]", "zone"))
    gates = {g.id for g in cfg.access.gates}
    for i, b in enumerate(cfg.buses):
        if isinstance(b, SerialLineBus | TcpLineBus) and b.gate not in gates:
            out.append(_unknown(b.gate, gates, f"buses[{i}].gate", "gate"))
        if isinstance(b, GpioBus) and b.backend == "remote" and not b.socket:
            out.append(
                Problem(f"buses[{i}].socket", "missing: the remote GPIO backend needs `socket`")
            )
    out += _check_files(cfg)
    if "timezone" in cfg.rules:
        out.append(
            Problem(
                "rules.timezone",
                "not supported: the venue has one timezone",
                "set it under [site] timezone and remove it from [rules]",
            )
        )
    return out


def _check_devices(
    cfg: VenueConfig,
    zones: set[str],
    buses: Mapping[str, Bus],
    profile_points: ProfilePoints | None,
    override_problem: OverrideCheck,
) -> list[Problem]:
    out: list[Problem] = []
    seen_addr: dict[tuple[str, int], int] = {}
    modbus = (ModbusTcpBus, ModbusRtuBus, ModbusRtuTcpBus)
    for i, d in enumerate(cfg.devices):
        path = f"devices[{i}]"
        bus = buses.get(d.bus)
        if bus is None:
            out.append(_unknown(d.bus, set(buses), f"{path}.bus", "bus"))
        elif isinstance(bus, modbus):
            if d.unit_id is None:
                out.append(
                    Problem(f"{path}.unit_id", "missing: a Modbus device needs unit_id 1..247")
                )
            else:
                first = seen_addr.setdefault((d.bus, d.unit_id), i)
                other = cfg.devices[first].id
                if first != i:
                    out.append(
                        Problem(
                            f"{path}.unit_id",
                            f"unit {d.unit_id} on bus '{d.bus}' is already device '{other}'",
                            "give each device on a bus its own unit id",
                        )
                    )
        elif isinstance(bus, GpioBus):
            if d.profile not in GPIO_PROFILES:
                out.append(
                    Problem(
                        f"{path}.profile",
                        f"a device on GPIO bus '{d.bus}' is a gpio_relay or a gpio_input, "
                        f"not '{d.profile}'",
                    )
                )
            if d.pin is None:
                out.append(Problem(f"{path}.pin", "missing: a GPIO device needs pin (BCM number)"))
            else:
                first = seen_addr.setdefault((d.bus, d.pin), i)
                other = cfg.devices[first].id
                if first != i:
                    out.append(Problem(f"{path}.pin", f"pin {d.pin} is already device '{other}'"))
        elif isinstance(bus, NetworkBus):
            if d.profile not in NETWORK_PROFILES:
                kinds = ", ".join(sorted(NETWORK_PROFILES))
                out.append(
                    Problem(
                        f"{path}.profile",
                        f"a device on network bus '{d.bus}' is one of {kinds}, not '{d.profile}'",
                    )
                )
            if not d.host:
                out.append(Problem(f"{path}.host", "missing: a network device needs host"))
        elif isinstance(bus, SerialLineBus | TcpLineBus):
            out.append(
                Problem(f"{path}.bus", f"bus '{d.bus}' is a credential reader, not a device bus")
            )
        if not isinstance(bus, NetworkBus | None) and (d.host or d.probe):
            out.append(Problem(f"{path}.host", "host and probe are for network devices only"))
        if (
            bus is not None
            and not isinstance(bus, GpioBus | NetworkBus)
            and (d.profile in GPIO_PROFILES or d.profile in NETWORK_PROFILES)
        ):
            out.append(
                Problem(f"{path}.bus", f"a {d.profile} device belongs on a gpio or network bus")
            )
        if d.zone is not None and d.zone not in zones:
            out.append(_unknown(d.zone, zones, f"{path}.zone", "zone"))
        if profile_points is not None:
            names = profile_points(d.profile)
            if names is None:
                out.append(
                    Problem(
                        f"{path}.profile",
                        f"unknown profile '{d.profile}'",
                        "profiles live in drivers/profiles/ and in the directories of profile_dirs",
                    )
                )
            else:
                unknown = [p for p in d.points if p not in names]
                for p in unknown:
                    out.append(_unknown(p, names, f"{path}.points.{p}", "point"))
                if not unknown and (why := override_problem(d.profile, d.points)) is not None:
                    out.append(Problem(f"{path}.points", why))
    return out


def _check_zones(
    cfg: VenueConfig,
    zones: set[str],
    devices: Mapping[str, Device],
    profile_points: ProfilePoints | None,
) -> list[Problem]:
    out: list[Problem] = []
    for i, z in enumerate(cfg.zones):
        path = f"zones[{i}]"
        if z.parent is not None and z.parent not in zones:
            out.append(_unknown(z.parent, zones, f"{path}.parent", "zone"))
        if z.parent == z.id:
            out.append(Problem(f"{path}.parent", "a zone cannot be its own parent"))
        for j, ref in enumerate(z.lights):
            dev, _, point = ref.partition(".")
            if dev not in devices:
                out.append(
                    Problem(
                        f"{path}.lights[{j}]",
                        f"output '{ref}' is served by no device",
                        f"declare device '{dev}' under [[devices]]",
                    )
                )
                continue
            if profile_points is not None:
                names = profile_points(devices[dev].profile)
                if names is not None and point not in names:
                    out.append(_unknown(point, names, f"{path}.lights[{j}]", "point"))
        for key in ("hvac", "sensors"):
            for j, dev in enumerate(getattr(z, key)):
                if dev not in devices:
                    out.append(_unknown(dev, set(devices), f"{path}.{key}[{j}]", "device"))
    # Parent cycles would make "union of zones" undefined.
    parents = {z.id: z.parent for z in cfg.zones}
    for i, z in enumerate(cfg.zones):
        seen = {z.id}
        p = z.parent
        while p is not None and p in parents:
            if p in seen:
                out.append(Problem(f"zones[{i}].parent", f"zone '{z.id}' is inside itself (cycle)"))
                break
            seen.add(p)
            p = parents[p]
    return out


def _check_files(cfg: VenueConfig) -> list[Problem]:
    out: list[Problem] = []
    u = cfg.uplink
    for key in ("password_file", "ca_file", "cert_file", "key_file"):
        name = getattr(u, key)
        if name is not None and not os.access(name, os.R_OK):
            why = "does not exist" if not os.path.exists(name) else "is not readable by this user"
            out.append(Problem(f"uplink.{key}", f"file '{name}' {why}"))
    if (u.cert_file is None) != (u.key_file is None):
        out.append(
            Problem("uplink.cert_file", "cert_file and key_file go together", "set both or neither")
        )
    return out


def check_state_dir(cfg: VenueConfig) -> list[Problem]:
    """The state directory must exist (or be creatable) and be writable."""
    d = Path(cfg.storage.dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [
            Problem(
                "storage.dir",
                f"cannot create '{d}': {exc.strerror}",
                "create it or point storage.dir elsewhere",
            )
        ]
    if not os.access(d, os.W_OK | os.X_OK):
        return [
            Problem(
                "storage.dir",
                f"'{d}' is not writable by this user",
                "fix its owner (systemd's StateDirectory= does it) or choose another dir",
            )
        ]
    return []
