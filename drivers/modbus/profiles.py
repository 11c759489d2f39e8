"""Device profiles as TOML data files: shipped in `drivers/profiles/`, or a technician's.

`load_profile("hvac_fancoil")` decodes a profile strictly (unknown keys and unknown
roles are rejected, errors carry the path such as `$.points[3].scale`); `resolve()`
applies a venue device's per-point overrides and validates the result again.

Profiles come from a search path: `search_path("/etc/edge/profiles")` is the shipped
directory followed by the technician's directories. A name found in two directories
is refused (ProfileError naming both files): a technician's file may not silently
replace a shipped model, which the docs, the simulator and other venues describe.
A technician copies the closest profile under a new name instead.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from .errors import ProfileError
from .points import DeviceProfile, PointSpec

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"

#: Where to look: one directory, several (in order), or None for the shipped ones only.
SearchPath = Path | str | Sequence[Path | str] | None


def search_path(*extra: Path | str) -> tuple[Path, ...]:
    """The shipped directory followed by `extra` directories (duplicates dropped)."""
    out: list[Path] = []
    for d in (PROFILE_DIR, *extra):
        path = Path(d)
        if all(path.resolve() != o.resolve() for o in out):
            out.append(path)
    return tuple(out)


def _dirs(search: SearchPath) -> tuple[Path, ...]:
    if search is None:
        return (PROFILE_DIR,)
    if isinstance(search, Path | str):
        return (Path(search),)
    return tuple(Path(d) for d in search)


def profile_files(search: SearchPath = None) -> dict[str, Path]:
    """Profile name -> its file, over the search path. ProfileError for a directory that
    does not exist or a name that two directories both provide."""
    found: dict[str, Path] = {}
    for directory in _dirs(search):
        if not directory.is_dir():
            raise ProfileError(str(directory), "profile directory does not exist (check the path)")
        for path in sorted(directory.glob("*.toml")):
            other = found.get(path.stem)
            if other is not None and other.resolve() != path.resolve():
                raise ProfileError(
                    str(path),
                    f"profile {path.stem!r} is already provided by {other}; a profile may "
                    "not shadow another: rename this file and its `name` (e.g. "
                    f"{path.stem}_site) and name that in the device",
                )
            found[path.stem] = path
    return found


def list_profiles(search: SearchPath = None) -> list[str]:
    """Names of the profiles available (file stems), sorted."""
    return sorted(profile_files(search))


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
        return msgspec.convert(_place_derived(data), DeviceProfile, strict=True)
    except msgspec.ValidationError as exc:
        raise ProfileError(where, str(exc)) from exc


def _place_derived(data: object) -> object:
    """A `status_count` point reads no registers: give it its table's table and address
    when the file leaves them out, so every point has the same shape."""
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        return data
    by_name = {
        p["name"]: p
        for p in data["points"]
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }
    points: list[object] = []
    for p in data["points"]:
        if isinstance(p, dict) and p.get("datatype") == "status_count":
            count = p.get("count")
            of = count.get("of") if isinstance(count, dict) else None
            source = by_name.get(of) if isinstance(of, str) else None
            src = source if isinstance(source, dict) else {}
            p = {"table": src.get("table", "input"), "address": src.get("address", 0), **p}
        points.append(p)
    return {**data, "points": points}


def load_profile(name: str, search: SearchPath = None) -> DeviceProfile:
    """Load profile `name` from the search path (default: the shipped profiles); the
    profile's `name` must match its file name."""
    files = profile_files(search)
    path = files.get(name)
    if path is None:
        raise ProfileError(name, f"no such profile; available: {', '.join(sorted(files))}")
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
