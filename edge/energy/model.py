"""Energy records published on `energy`; the `[energy]` table is in edge/config/energy.py."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from edge.config.energy import EnergyConfig

__all__ = ["BookingEnergy", "EnergyConfig", "EnergyInterval"]


class EnergyInterval(msgspec.Struct, frozen=True, kw_only=True):
    """Energy of one meter (kind "meter") or one zone's meters (kind "zone") in one interval."""

    kind: Literal["meter", "zone"]
    subject: str
    """Meter device id or zone id."""
    zone: str | None
    start: datetime
    end: datetime
    kwh: float
    estimated: bool = False
    reasons: list[str] = msgspec.field(default_factory=list)
    """Why estimated: gap (meter offline), reset, rebased, before_data."""


class BookingEnergy(msgspec.Struct, frozen=True, kw_only=True):
    """kWh attributed to one booking from its pre-conditioning start to its end."""

    booking_id: str
    zone: str
    start: datetime
    """Pre-conditioning start (window start)."""
    end: datetime
    kwh: float
    meters: dict[str, float]
    """Share of each meter (shared meters apportioned, see docs/energy.md)."""
    estimated: bool = False
    reasons: list[str] = msgspec.field(default_factory=list)
