"""Decode a venue config part by part, so that one broken part hides no other problem.

`decode.py` finds every type problem. This module then keeps what did decode: a bad
optional key falls back to its default, a bad required key gets a stand-in, and an item
that cannot stand at all (a bus of unknown kind, a device that is a string) is left out.
The cross-reference checks run on that config; `Collected.later` maps the paths of what
they find back to the file's own indices and drops what only echoes a problem already
reported (a device on a bus that was left out is not a second mistake).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Final

import msgspec
from msgspec import inspect as mi

from edge.config.decode import check_value, join
from edge.config.errors import Problem
from edge.config.model import VenueConfig

STAND_IN: Final = "0-unset"
"""The value put in for a required id that did not decode (never a real id: a later
problem naming it is an echo)."""

ECHOES: Final = {
    "zones": ("unknown zone",),
    "buses": ("unknown bus",),
    "devices": ("unknown device", "output '", "unknown output", "unknown input point"),
    "access.gates": ("unknown gate",),
}
"""With a whole list left out, what every reference to one of its items says."""

_DROP: Final = object()
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass
class _Repair:
    kept: dict[str, list[int]] = field(default_factory=dict)
    """list path (file indices) -> the file indices of the items kept, where some went."""
    gone: set[str] = field(default_factory=set)
    """Ids of items left out or given a stand-in: a problem naming one is an echo."""
    lost: set[str] = field(default_factory=set)
    """Paths of whole lists left out (`[zones]` written for `[[zones]]`)."""


@dataclass(frozen=True)
class Collected:
    """What decoded of a config, and every type problem found on the way."""

    config: VenueConfig | None
    """The config with broken parts defaulted or left out; None only when not even that
    could be built."""
    problems: list[Problem]
    """Type problems (decode), with the file's paths."""
    kept: dict[str, list[int]] = field(default_factory=dict)
    gone: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()

    def later(self, found: list[Problem]) -> list[Problem]:
        """Problems of the cross-reference checks on `config`, with the file's indices,
        less those that only follow from a problem already in `problems`."""
        covered = [p.path for p in self.problems]
        out: list[Problem] = []
        seen = {str(p) for p in self.problems}
        for p in found:
            path = self._file_path(p.path)
            if any(_under(path, c) for c in covered) or self._names_gone(p):
                continue
            moved = Problem(path, p.message, p.hint)
            if str(moved) not in seen:
                seen.add(str(moved))
                out.append(moved)
        return out

    def _file_path(self, path: str) -> str:
        out, pos = "", 0
        for m in _INDEX.finditer(path):
            out += path[pos : m.start()]
            i = int(m.group(1))
            kept = self.kept.get(out)
            if kept is not None and i < len(kept):
                i = kept[i]
            out += f"[{i}]"
            pos = m.end()
        return out + path[pos:]

    def _names_gone(self, p: Problem) -> bool:
        if any(p.message.startswith(ECHOES.get(path, ())) for path in self.lost):
            return True
        return any(f"'{name}'" in p.message or f"'{name}." in p.message for name in self.gone)


def _under(path: str, covered: str) -> bool:
    return covered == "" or path == covered or path.startswith((covered + ".", covered + "["))


def collect(data: object) -> Collected:
    """Decode `data` (parsed TOML) into a VenueConfig, keeping every part that decodes."""
    problems: list[Problem] = []
    info = _venue_type()
    check_value(data, info, "", problems)
    if not problems:
        try:
            return Collected(msgspec.convert(data, VenueConfig), [])
        except msgspec.ValidationError as exc:  # a case the walker does not model
            return Collected(None, [Problem("", str(exc))])
    repair = _Repair(gone={STAND_IN})
    fixed = _fix(data, info, "", repair)
    config: VenueConfig | None = None
    if fixed is not _DROP:
        try:
            config = msgspec.convert(fixed, VenueConfig)
        except msgspec.ValidationError:  # the problems above already say why
            config = None
    return Collected(config, problems, repair.kept, frozenset(repair.gone), frozenset(repair.lost))


@cache
def _venue_type() -> mi.Type:
    """msgspec's view of the model (built once: it takes milliseconds)."""
    return mi.type_info(VenueConfig)


def _fix(value: object, info: mi.Type, path: str, r: _Repair) -> object:
    """`value` with what does not fit `info` defaulted or left out; _DROP if it cannot stand."""
    if isinstance(info, mi.AnyType):
        return value
    if isinstance(info, mi.StructType):
        return _fix_struct(value, info, path, r)
    if isinstance(info, mi.UnionType):
        return _fix_union(value, info, path, r)
    if isinstance(info, mi.ListType):
        if not isinstance(value, list):
            r.lost.add(path)
            return _DROP
        items, kept = [], []
        for i, item in enumerate(value):
            fixed = _fix(item, info.item_type, join(path, i), r)
            if fixed is _DROP:
                _forget(item, r)
            else:
                items.append(fixed)
                kept.append(i)
        if len(kept) != len(value):
            r.kept[path] = kept
        return items
    if isinstance(info, mi.DictType):
        if not isinstance(value, dict):
            return _DROP
        entries = {k: _fix(v, info.value_type, join(path, str(k)), r) for k, v in value.items()}
        return {k: v for k, v in entries.items() if v is not _DROP}
    trial: list[Problem] = []
    check_value(value, info, path, trial)
    return _DROP if trial else value


def _fix_struct(value: object, info: mi.StructType, path: str, r: _Repair) -> object:
    if not isinstance(value, dict):
        return _DROP
    out: dict[str, object] = {}
    if info.tag_field is not None:
        out[info.tag_field] = info.tag
    stood_in = False
    for f in info.fields:
        name = f.encode_name
        if name in value:
            fixed = _fix(value[name], f.type, join(path, name), r)
            if fixed is not _DROP:
                out[name] = fixed
                continue
        if f.required:
            stand_in = _stand_in(f.type, join(path, name), r)
            if stand_in is _DROP:
                return _DROP
            out[name] = stand_in
            # A stand-in kind changes nothing the checks see; a stand-in id or bus does.
            stood_in = stood_in or not isinstance(f.type, mi.LiteralType)
    if stood_in:
        _forget(value, r)
    return out


def _fix_union(value: object, info: mi.UnionType, path: str, r: _Repair) -> object:
    tagged = [t for t in info.types if isinstance(t, mi.StructType) and t.tag_field]
    if tagged:
        if not isinstance(value, dict):
            return _DROP
        tag = value.get(tagged[0].tag_field)
        match = [t for t in tagged if str(t.tag) == tag]
        return _fix_struct(value, match[0], path, r) if match else _DROP
    if value is None and any(isinstance(t, mi.NoneType) for t in info.types):
        return None
    others = [t for t in info.types if not isinstance(t, mi.NoneType)]
    for t in others:
        trial: list[Problem] = []
        check_value(value, t, path, trial)
        if not trial:
            return value
    for t in others:
        fixed = _fix(value, t, path, r)
        if fixed is not _DROP:
            return fixed
    return _DROP


def _stand_in(info: mi.Type, path: str, r: _Repair) -> object:
    """A valid value for a required key that did not decode, or _DROP."""
    candidates: list[object]
    if isinstance(info, mi.LiteralType):
        candidates = list(info.values)
    elif isinstance(info, mi.StrType):
        candidates = ["", STAND_IN, STAND_IN + ".x"]
    elif isinstance(info, mi.IntType | mi.FloatType):
        bounds = (info.ge, info.le, None if info.gt is None else info.gt + 1, 0, 1)
        candidates = [b for b in bounds if b is not None]
    elif isinstance(info, mi.BoolType):
        candidates = [False]
    elif isinstance(info, mi.ListType):
        candidates = [[]]
    elif isinstance(info, mi.DictType):
        candidates = [{}]
    elif isinstance(info, mi.UnionType):
        if any(isinstance(t, mi.NoneType) for t in info.types):
            return None
        for t in info.types:
            if (v := _stand_in(t, path, r)) is not _DROP:
                return v
        return _DROP
    elif isinstance(info, mi.StructType) and info.tag_field is None:
        return _fix_struct({}, info, path, r)
    else:
        return _DROP
    for value in candidates:
        trial: list[Problem] = []
        check_value(value, info, path, trial)
        if not trial:
            return value
    return _DROP


def _forget(item: object, r: _Repair) -> None:
    """An item left out or stood in for: problems elsewhere that name it are echoes."""
    if isinstance(item, dict):
        for key in ("id", "kid"):
            if isinstance(name := item.get(key), str) and name:
                r.gone.add(name)
