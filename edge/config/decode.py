"""Decode plain data into typed structs, collecting *every* problem with its path.

msgspec stops at the first error; a technician fixing a venue file wants them all,
so this walks msgspec's own type information and checks each value in place. When it
finds nothing, `msgspec.convert` builds the structs (and is then known to succeed).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from edge.config.errors import Problem

T = TypeVar("T")
_ODD_KEY = re.compile(r'[.\[\]"\s]')


def decode_all(data: object, typ: type[T]) -> tuple[T | None, list[Problem]]:
    problems: list[Problem] = []
    _check(data, mi.type_info(typ), "", problems)
    if problems:
        return None, problems
    try:
        return msgspec.convert(data, typ), []
    except msgspec.ValidationError as exc:  # a case the walker does not model
        return None, [Problem("", str(exc))]


def check_value(value: object, info: mi.Type, path: str, out: list[Problem]) -> None:
    """Append to `out` every problem of `value` against `info`, with paths under `path`."""
    _check(value, info, path, out)


def join(path: str, key: str | int) -> str:
    """`path` one step down: `devices[3]`, `site.id`."""
    return _join(path, key)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not key or _ODD_KEY.search(key):  # quoted, so a path reads one way only
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value: object) -> str:
    return {
        dict: "a table",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _check(value: object, info: mi.Type, path: str, out: list[Problem]) -> None:
    if isinstance(info, mi.AnyType):
        return
    if isinstance(info, mi.UnionType):
        _check_union(value, info, path, out)
    elif isinstance(info, mi.StructType):
        _check_struct(value, info, path, out)
    elif isinstance(info, mi.ListType):
        if not isinstance(value, list):
            hint = f"write each item under its own [[{path}]]" if isinstance(value, dict) else ""
            out.append(Problem(path, f"expected a list, got {_kind(value)}", hint))
            return
        for i, item in enumerate(value):
            _check(item, info.item_type, _join(path, i), out)
    elif isinstance(info, mi.DictType):
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected a table, got {_kind(value)}"))
            return
        for key, item in value.items():
            _check(item, info.value_type, _join(path, str(key)), out)
    else:
        _check_leaf(value, info, path, out)


def _check_struct(value: object, info: mi.StructType, path: str, out: list[Problem]) -> None:
    if not isinstance(value, dict):
        out.append(Problem(path, f"expected a table, got {_kind(value)}"))
        return
    names = {f.encode_name: f for f in info.fields}
    tag_field = info.tag_field
    for key in value:
        if key in names or key == tag_field:
            continue
        import difflib  # only for a mistake: kept out of the running daemon

        close = difflib.get_close_matches(str(key), list(names), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(sorted(names))}"
        out.append(Problem(_join(path, str(key)), "unknown key", hint))
    for name, f in names.items():
        if name in value:
            _check(value[name], f.type, _join(path, name), out)
        elif f.required:
            out.append(Problem(_join(path, name), "missing required key"))


def _check_union(value: object, info: mi.UnionType, path: str, out: list[Problem]) -> None:
    types = info.types
    structs = [t for t in types if isinstance(t, mi.StructType) and t.tag_field]
    if structs:
        tag_field = structs[0].tag_field
        by_tag = {str(t.tag): t for t in structs}
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected a table, got {_kind(value)}"))
            return
        tag = value.get(tag_field) if tag_field else None
        if not isinstance(tag, str) or tag not in by_tag:
            allowed = ", ".join(f"'{t}'" for t in by_tag)
            got = "nothing" if tag is None else _show(tag)
            out.append(
                Problem(_join(path, tag_field or "kind"), f"expected one of {allowed}, got {got}")
            )
            return
        _check_struct(value, by_tag[str(tag)], path, out)
        return
    if value is None and any(isinstance(t, mi.NoneType) for t in types):
        return
    attempts: list[Problem] = []
    for t in types:
        if isinstance(t, mi.NoneType):
            continue
        trial: list[Problem] = []
        _check(value, t, path, trial)
        if not trial:
            return
        attempts.extend(trial)
    out.extend(attempts[:1])


def _range(lo: object, hi: object) -> str:
    if lo is not None and hi is not None:
        return f" {lo}..{hi}"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _check_leaf(value: object, info: mi.Type, path: str, out: list[Problem]) -> None:
    if isinstance(info, mi.BoolType):
        if not isinstance(value, bool):
            out.append(Problem(path, f"expected true or false, got {_show(value)}"))
    elif isinstance(info, mi.IntType):
        lo: object = info.ge if info.ge is not None else info.gt
        hi: object = info.le if info.le is not None else info.lt
        if isinstance(value, bool) or not isinstance(value, int) or not _in(value, info):
            out.append(Problem(path, f"expected an integer{_range(lo, hi)}, got {_show(value)}"))
    elif isinstance(info, mi.FloatType):
        lo = info.ge if info.ge is not None else info.gt
        hi = info.le if info.le is not None else info.lt
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or not _in(value, info):  # type: ignore[arg-type]
            out.append(Problem(path, f"expected a number{_range(lo, hi)}, got {_show(value)}"))
    elif isinstance(info, mi.StrType):
        _check_str(value, info, path, out)
    elif isinstance(info, mi.LiteralType):
        hashable = isinstance(value, str | int | float) and type(value) is not bool
        if not hashable or value not in info.values:
            allowed = ", ".join(repr(v) for v in info.values)
            out.append(Problem(path, f"expected one of {allowed}, got {_show(value)}"))
    elif isinstance(info, mi.NoneType) and value is not None:
        out.append(Problem(path, f"expected nothing, got {_show(value)}"))
    # Other types are left to the final msgspec.convert, which reports them.


def _in(value: Any, info: mi.IntType | mi.FloatType) -> bool:
    return not (
        (info.ge is not None and value < info.ge)
        or (info.gt is not None and value <= info.gt)
        or (info.le is not None and value > info.le)
        or (info.lt is not None and value >= info.lt)
    )


def _check_str(value: object, info: mi.StrType, path: str, out: list[Problem]) -> None:
    if not isinstance(value, str):
        out.append(Problem(path, f"expected a string, got {_kind(value)} {_show(value)}"))
        return
    if info.min_length is not None and len(value) < info.min_length:
        out.append(Problem(path, "must not be empty" if info.min_length == 1 else "too short"))
        return
    if info.max_length is not None and len(value) > info.max_length:
        out.append(Problem(path, f"longer than {info.max_length} characters"))
        return
    if info.pattern is not None and not re.search(info.pattern, value):
        hint = (
            "use DEVICE.POINT, e.g. 'lights-a.ch3_on'"
            if r"\." in info.pattern
            else "use letters, digits and _ . : -"
        )
        out.append(Problem(path, f"{_show(value)} is not a valid name", hint))
