"""Outdoor temperature over the day, in the venue's local time.

A cosine from the daily minimum (05:00, 18 C by default) up to the maximum (15:00,
31 C), then back down to the next minimum: smooth, periodic, and warmest in the
afternoon, which is what makes evening pre-cooling of a sports hall worth learning.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from .params import Weather


class DayCurve:
    def __init__(self, params: Weather, timezone: str) -> None:
        self.params = params
        self.tz = ZoneInfo(timezone)

    def at(self, when: datetime) -> float:
        """Outdoor temperature (C) at the aware instant `when`."""
        local = when.astimezone(self.tz)
        hour = local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600
        p = self.params
        rise = (p.max_hour - p.min_hour) % 24  # hours from minimum to maximum
        since_min = (hour - p.min_hour) % 24
        # frac: 0 at the minimum, 1 at the maximum.
        rising = since_min <= rise
        frac = since_min / rise if rising else 1 - (since_min - rise) / (24 - rise)
        return p.min_c + (p.max_c - p.min_c) * (1 - math.cos(math.pi * frac)) / 2
