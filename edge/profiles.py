"""The device profiles a venue may name, and the roles of their points.

Modbus profiles are TOML data (drivers/profiles/, plus the venue's `profile_dirs`), each
read and parsed once per `ProfileBook`. Devices without a register map are built-in
kinds: GPIO pins (`gpio_relay`, `gpio_input`) and network devices watched by a probe
(`ip_camera`, `nvr`, `face_terminal`, `network_device`). Either way a device's points
carry roles (drivers/roles.py), which is how the daemon finds them: by meaning, never by
a profile's name.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from drivers.modbus.errors import ProfileError
from drivers.modbus.points import DeviceProfile
from drivers.modbus.profiles import load_profile, profile_files, resolve, search_path
from drivers.roles import ROLES

GPIO_PROFILES: dict[str, dict[str, tuple[str, ...]]] = {
    "gpio_relay": {"relay": ("gate.relay",)},
    "gpio_input": {"state": ("door.contact",)},
}
"""GPIO kinds: point -> default roles (a device may name others: `points.relay.roles`)."""


@dataclass(frozen=True, slots=True)
class NetworkKind:
    role: str
    """The role of the device's `online` point."""
    probe: str
    """The default probe."""
    monitor_kind: str
    """drivers.netprobe NetDeviceKind."""


NETWORK_PROFILES: dict[str, NetworkKind] = {
    "ip_camera": NetworkKind("camera.online", "rtsp", "camera"),
    "nvr": NetworkKind("nvr.online", "rtsp", "nvr"),
    "face_terminal": NetworkKind("terminal.online", "http", "terminal"),
    "network_device": NetworkKind("network.online", "tcp", "other"),
}


class ProfileBook:
    """Profiles over a search path (shipped first), each parsed once."""

    def __init__(self, dirs: Sequence[str] = ()) -> None:
        self.search = search_path(*dirs)
        self._loaded: dict[str, DeviceProfile] = {}
        self._files: dict[str, object] | None = None

    def _modbus_names(self) -> set[str]:
        if self._files is None:
            self._files = dict(profile_files(self.search))
        return set(self._files)

    def names(self) -> list[str]:
        return sorted(self._modbus_names() | set(GPIO_PROFILES) | set(NETWORK_PROFILES))

    def is_builtin(self, name: str) -> bool:
        return name in GPIO_PROFILES or name in NETWORK_PROFILES

    def load(self, name: str) -> DeviceProfile:
        """A Modbus profile (ProfileError if there is none of that name)."""
        got = self._loaded.get(name)
        if got is None:
            got = self._loaded[name] = load_profile(name, self.search)
        return got

    def points(self, name: str) -> set[str] | None:
        """The point names of profile `name`, or None when no such profile exists."""
        if name in GPIO_PROFILES:
            return set(GPIO_PROFILES[name])
        if name in NETWORK_PROFILES:
            return {"online"}
        if name not in self._modbus_names():
            return None
        return {p.name for p in self.load(name).points}

    def resolved(self, name: str, overrides: Mapping[str, Mapping[str, object]]) -> DeviceProfile:
        profile = self.load(name)
        return resolve(profile, overrides) if overrides else profile

    def override_problem(
        self, name: str, overrides: Mapping[str, Mapping[str, object]]
    ) -> str | None:
        """Why a device's point overrides do not apply to its profile, or None when they do."""
        if not overrides or name in NETWORK_PROFILES:
            return None
        if name in GPIO_PROFILES:
            return _gpio_override_problem(name, overrides)
        if name not in self._modbus_names():
            return None
        try:
            self.resolved(name, overrides)
        except ProfileError as exc:
            return str(exc)
        return None

    def point_roles(
        self, name: str, overrides: Mapping[str, Mapping[str, object]]
    ) -> dict[str, tuple[tuple[str, ...], str | None]]:
        """point -> (roles, group) of a device with profile `name` and these overrides."""
        if name in GPIO_PROFILES:
            out: dict[str, tuple[tuple[str, ...], str | None]] = {}
            for point, roles in GPIO_PROFILES[name].items():
                given = overrides.get(point, {}).get("roles")
                out[point] = (tuple(given) if isinstance(given, list) else roles, None)
            return out
        if name in NETWORK_PROFILES:
            return {"online": ((NETWORK_PROFILES[name].role,), None)}
        profile = self.resolved(name, overrides)
        return {p.name: (tuple(p.roles), p.group) for p in profile.points}

    def enum_labels(
        self, devices: Iterable[tuple[str, str, Mapping[str, Mapping[str, object]]]]
    ) -> dict[str, dict[str, str]]:
        """`device.point` -> {raw number as text: label} for every enum point of Modbus
        devices given as (id, profile, overrides): a rule may want `fan_speed = 3`, the
        device reads back "high"."""
        out: dict[str, dict[str, str]] = {}
        for dev, name, overrides in devices:
            if self.is_builtin(name) or name not in self._modbus_names():
                continue
            for p in self.resolved(name, overrides).points:
                if p.enum:
                    out[f"{dev}.{p.name}"] = dict(p.enum)
        return out


def _gpio_override_problem(name: str, overrides: Mapping[str, Mapping[str, object]]) -> str | None:
    for point, fields in overrides.items():
        if point not in GPIO_PROFILES[name]:
            return f"{name} has no point {point!r}; it has {sorted(GPIO_PROFILES[name])}"
        extra = sorted(set(fields) - {"roles"})
        if extra:
            return f"{name}.{point}: only `roles` can be set on a GPIO point, not {extra}"
        roles = fields.get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            return f"{name}.{point}.roles must be a list of role names"
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            return f"{name}.{point}.roles: unknown roles {unknown}; see docs/drivers.md"
    return None


@functools.cache
def shipped() -> ProfileBook:
    """The shipped profiles only (for callers with no venue at hand)."""
    return ProfileBook()


def profile_points(name: str) -> set[str] | None:
    """The point names of shipped profile `name`, or None when no such profile exists."""
    return shipped().points(name)


def enum_labels(
    devices: Iterable[tuple[str, str, Mapping[str, Mapping[str, object]]]],
) -> dict[str, dict[str, str]]:
    return shipped().enum_labels(devices)
