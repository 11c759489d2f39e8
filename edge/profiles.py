"""The device profiles the config may name: Modbus profiles from drivers/, plus GPIO kinds."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from drivers.modbus.errors import ProfileError
from drivers.modbus.profiles import list_profiles, load_profile, resolve

# GPIO devices have no register map: a relay output or a debounced input, one point each.
GPIO_PROFILES: dict[str, set[str]] = {"gpio_relay": {"relay"}, "gpio_input": {"state"}}


@functools.cache
def _modbus_points(name: str) -> frozenset[str] | None:
    if name not in list_profiles():
        return None
    return frozenset(p.name for p in load_profile(name).points)


def profile_points(name: str) -> set[str] | None:
    """The point names of profile `name`, or None when no such profile exists."""
    if name in GPIO_PROFILES:
        return GPIO_PROFILES[name]
    points = _modbus_points(name)
    return None if points is None else set(points)


def override_problem(name: str, overrides: Mapping[str, Mapping[str, object]]) -> str | None:
    """Why a device's point overrides do not apply to its profile, or None when they do."""
    if name in GPIO_PROFILES or not overrides or _modbus_points(name) is None:
        return None
    try:
        resolve(load_profile(name), overrides)
    except ProfileError as exc:
        return str(exc)
    return None


def enum_labels(devices: Iterable[tuple[str, str, Mapping[str, Mapping[str, object]]]]) -> dict[
    str, dict[str, str]
]:  # fmt: skip
    """`device.point` -> {raw number as text: label} for every enum point of Modbus devices
    given as (id, profile, point overrides): a rule may want `fan_speed = 3`, the device
    reads back "high"."""
    out: dict[str, dict[str, str]] = {}
    for dev, name, overrides in devices:
        if name in GPIO_PROFILES or _modbus_points(name) is None:
            continue
        profile = resolve(load_profile(name), overrides) if overrides else load_profile(name)
        for p in profile.points:
            if p.enum:
                out[f"{dev}.{p.name}"] = dict(p.enum)
    return out
