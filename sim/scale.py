"""`--scale N`: the venue N times over, for benchmarks.

Copy k (2..N) of every zone, bus, device and gate gets the suffix `-xk` on its id and on
every reference to an id (parents, light outputs, HVAC/sensor lists, gates' devices and
zones, readers' gates), so the copies are independent venues on their own buses.
Works on the raw TOML data so that the result is validated like any file.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import SimConfigError


def _sfx(x: str, k: int) -> str:
    return f"{x}-x{k}"


def _copy_zone(z: dict[str, Any], k: int) -> dict[str, Any]:
    z = copy.deepcopy(z)
    z["id"] = _sfx(z["id"], k)
    if z.get("parent"):
        z["parent"] = _sfx(z["parent"], k)
    z["lights"] = [
        f"{_sfx(ref.partition('.')[0], k)}.{ref.partition('.')[2]}" for ref in z.get("lights", [])
    ]
    for key in ("hvac", "sensors"):
        if key in z:
            z[key] = [_sfx(d, k) for d in z[key]]
    return z


def scale_data(data: dict[str, Any], n: int) -> dict[str, Any]:
    """The raw config data multiplied `n` times (n = 1 returns a copy)."""
    if not 1 <= n <= 1000:
        raise SimConfigError("--scale", f"{n} must be 1..1000")
    out = copy.deepcopy(data)
    zones = list(data.get("zones", []))
    buses = list(data.get("buses", []))
    devices = list(data.get("devices", []))
    gates = list(data.get("access", {}).get("gates", []))
    for k in range(2, n + 1):
        out.setdefault("zones", []).extend(_copy_zone(z, k) for z in zones)
        for b in buses:
            b2 = copy.deepcopy(b)
            b2["id"] = _sfx(b["id"], k)
            if "gate" in b2:
                b2["gate"] = _sfx(b2["gate"], k)
            if isinstance(b2.get("port"), str):
                b2["port"] = _sfx(b2["port"], k)
            out["buses"].append(b2)
        for d in devices:
            d2 = copy.deepcopy(d)
            d2["id"] = _sfx(d["id"], k)
            d2["bus"] = _sfx(d["bus"], k)
            if d2.get("zone"):
                d2["zone"] = _sfx(d2["zone"], k)
            out["devices"].append(d2)
        for g in gates:
            g2 = copy.deepcopy(g)
            g2["id"] = _sfx(g["id"], k)
            g2["device"] = _sfx(g["device"], k)
            g2["zones"] = [_sfx(z, k) for z in g.get("zones", [])]
            out["access"]["gates"].append(g2)
    return out
