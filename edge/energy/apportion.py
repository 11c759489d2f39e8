"""Per-booking energy: which meters a booking draws on and its share of shared ones (pure).

Rule (docs/energy.md): a meter in zone M serves M and every zone below it. Over each
instant, a meter's energy is split equally among the bookings whose window (pre-
conditioning start to end) covers that instant and whose zone the meter serves. So a
court meter belongs wholly to the court's booking, and a hall meter's energy while
three courts are booked is split in thirds. Energy at instants no booking covers is
not attributed to any booking (it shows in the zone intervals).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

EnergyFn = Callable[[str, float, float], tuple[float, set[str]] | None]
"""(meter, a, b) -> (kWh, estimate reasons), or None when not known yet."""


@dataclass(frozen=True, slots=True)
class Window:
    booking_id: str
    zone: str
    start: float
    end: float


@dataclass
class Share:
    kwh: float = 0.0
    meters: dict[str, float] = field(default_factory=dict)
    reasons: set[str] = field(default_factory=set)


def served_zones(parents: Mapping[str, str | None]) -> dict[str, set[str]]:
    """zone -> the zone and all zones below it."""
    out: dict[str, set[str]] = {z: {z} for z in parents}
    for z in parents:
        seen: set[str] = set()
        p = parents.get(z)
        while p is not None and p not in seen:
            seen.add(p)
            out.setdefault(p, {p}).add(z)
            p = parents.get(p)
    return out


def booking_share(
    target: Window,
    windows: list[Window],
    meter_zone: Mapping[str, str],
    served: Mapping[str, set[str]],
    energy: EnergyFn,
) -> Share | None:
    """The target booking's energy per meter; None while some meter lacks data."""
    share = Share()
    for meter, mzone in sorted(meter_zone.items()):
        zones = served.get(mzone, {mzone})
        if target.zone not in zones:
            continue
        peers = [
            w for w in windows
            if w.zone in zones and w.start < target.end and w.end > target.start
        ]  # fmt: skip
        cuts = {target.start, target.end}
        for w in peers:
            cuts.update(c for c in (w.start, w.end) if target.start < c < target.end)
        points = sorted(cuts)
        kwh = 0.0
        for a, b in itertools.pairwise(points):
            mid = (a + b) / 2
            n = sum(1 for w in peers if w.start <= mid < w.end)
            got = energy(meter, a, b)
            if got is None:
                return None
            e, why = got
            kwh += e / max(n, 1)
            share.reasons |= why
        share.meters[meter] = kwh
        share.kwh += kwh
    return share
