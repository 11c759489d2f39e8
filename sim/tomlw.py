"""A small TOML writer for config data (dicts, lists, strings, numbers, booleans).

Enough for venue configs: top-level scalars, tables, arrays of tables, and nested
tables inside array elements as inline tables. `tomllib.loads(dumps(d)) == d` holds
for such data (a test checks it with hypothesis).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else _string(k)


def _string(s: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; keep non-ASCII as is.
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _table(data: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    scalars = [
        (k, v) for k, v in data.items() if not isinstance(v, Mapping) and not _is_table_array(v)
    ]
    for k, v in scalars:
        out.append(f"{_key(k)} = {_value(v)}")
    for k, v in data.items():
        name = ".".join(_key(p) for p in [*path, k])
        if isinstance(v, Mapping):
            out.append("")
            out.append(f"[{name}]")
            _table(v, [*path, k], out)
        elif _is_table_array(v):
            for item in v:
                out.append("")
                out.append(f"[[{name}]]")
                # Inside an array element, nested tables are written inline.
                for ik, iv in item.items():
                    out.append(f"{_key(ik)} = {_value(iv)}")


def dumps(data: Mapping[str, Any]) -> str:
    out: list[str] = []
    _table(data, [], out)
    return "\n".join(out).lstrip("\n") + "\n"
