"""A synthetic venue day: piecewise-constant power per meter, integrated exactly."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from edge.config.model import Device, ModbusTcpBus, Site, VenueConfig, Zone

WRAP_KWH = 2**32 * 0.1
DAY = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 00:00 in Asia/Shanghai


@dataclass(frozen=True)
class B:
    """A booking as the booking store gives it."""

    booking_id: str
    zone: str
    start: datetime
    end: datetime
    status: str = "confirmed"


def at(hh: int, mm: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


def venue(meters: dict[str, str]) -> VenueConfig:
    zones = [Zone(id="hall", kind="hall")] + [
        Zone(id=f"court-{i}", kind="court", parent="hall") for i in (1, 2, 3)
    ]
    devices = [
        Device(id=m, profile="energy_meter", bus="tcp-1", unit_id=10 + i, zone=z)
        for i, (m, z) in enumerate(sorted(meters.items()))
    ]
    return VenueConfig(
        site=Site(id="s", gateway="g", timezone="Asia/Shanghai"),
        zones=zones,
        buses=[ModbusTcpBus(id="tcp-1", host="127.0.0.1")],
        devices=devices,
    )


@dataclass
class Profile:
    """Power (W) of one meter: a base load plus constant loads over [from, to)."""

    base_w: float
    loads: list[tuple[float, float, float]] = field(default_factory=list)
    """(from, to, watts) in epoch seconds."""

    def add(self, start: datetime, end: datetime, watts: float) -> None:
        self.loads.append((start.timestamp(), end.timestamp(), watts))

    def kwh(self, a: float, b: float) -> float:
        """Exact energy in [a, b]."""
        j = self.base_w * (b - a)
        for s, e, w in self.loads:
            j += w * max(0.0, min(b, e) - max(a, s))
        return j / 3_600_000.0

    def breakpoints(self) -> set[float]:
        return {t for s, e, _ in self.loads for t in (s, e)}


def register_value(preset_kwh: float, kwh: float) -> float:
    """What a uint32 x 0.1 kWh register shows (rounded, wrapping)."""
    raw = round((preset_kwh + kwh) / 0.1) % 2**32
    return round(raw * 0.1, 1)


def expected_share(
    target: tuple[str, float, float],
    windows: list[tuple[str, float, float]],
    profile: Profile,
) -> float:
    """The documented rule applied to exact power: equal split among covering windows."""
    _, ts, te = target
    cuts = {ts, te} | {t for _, s, e in windows for t in (s, e) if ts < t < te}
    cuts |= {t for t in profile.breakpoints() if ts < t < te}
    pts = sorted(cuts)
    total = 0.0
    for a, b in itertools.pairwise(pts):
        mid = (a + b) / 2
        n = sum(1 for _, s, e in windows if s <= mid < e)
        total += profile.kwh(a, b) / max(n, 1)
    return total
