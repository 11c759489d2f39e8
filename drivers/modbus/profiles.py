"""Device profiles as TOML data files shipped in `drivers/profiles/`.

`load_profile("hvac_fancoil")` decodes a profile strictly (unknown keys are
rejected, errors carry the path such as `$.points[3].scale`); `resolve()` applies
a venue device's per-point overrides and validates the result again.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from .errors import ProfileError
from .points import DeviceProfile, PointSpec

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"


def list_profiles(directory: Path = PROFILE_DIR) -> list[str]:
    """Names of the profiles available (file stems), sorted."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def parse_profile(text: str, where: str = "<profile>") -> DeviceProfile:
    """Decode TOML text into a DeviceProfile or raise ProfileError naming where it is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(where, f"not valid TOML: {exc}") from exc
    return profile_from_data(data, where)


def profile_from_data(data: object, where: str = "<profile>") -> DeviceProfile:
    """Validate already-parsed data (e.g. a venue config section) into a DeviceProfile."""
    try:
        return msgspec.convert(data, DeviceProfile, strict=True)
    except msgspec.ValidationError as exc:
        raise ProfileError(where, str(exc)) from exc


def load_profile(name: str, directory: Path = PROFILE_DIR) -> DeviceProfile:
    """Load `directory/name.toml`; the profile's `name` must match the file name."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise ProfileError(
            name, f"no such profile; available: {', '.join(list_profiles(directory))}"
        )
    profile = parse_profile(path.read_text(encoding="utf-8"), str(path))
    if profile.name != name:
        raise ProfileError(str(path), f"name {profile.name!r} does not match the file name")
    return profile


def resolve(profile: DeviceProfile, overrides: Mapping[str, Mapping[str, Any]]) -> DeviceProfile:
    """A copy of `profile` with some points' fields replaced, e.g.
    `{"setpoint": {"address": 40, "scale": 0.5}}`; the result is validated like a file."""
    names = {p.name for p in profile.points}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ProfileError(
            f"{profile.name} overrides", f"unknown points {unknown}; known: {sorted(names)}"
        )
    points: list[dict[str, Any]] = []
    for p in profile.points:
        data = msgspec.to_builtins(p)
        data.update(overrides.get(p.name, {}))
        points.append(data)
    data = msgspec.to_builtins(profile)
    data["points"] = points
    try:
        return msgspec.convert(data, DeviceProfile, strict=True)
    except msgspec.ValidationError as exc:
        raise ProfileError(f"{profile.name} overrides", str(exc)) from exc


def point_of(profile: DeviceProfile, name: str) -> PointSpec:
    point = profile.point(name)
    if point is None:
        raise ProfileError(profile.name, f"no point named {name!r}")
    return point
