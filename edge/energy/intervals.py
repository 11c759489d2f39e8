"""Wall-clock aligned intervals in the venue timezone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def floor_interval(t: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the `minutes`-long interval containing `t`, aligned in local time."""
    local = t.astimezone(tz)
    of_day = local.hour * 60 + local.minute
    floored = of_day - of_day % minutes
    start = local.replace(hour=floored // 60, minute=floored % 60, second=0, microsecond=0)
    return start.astimezone(UTC)


def next_boundary(t: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """The first interval start strictly after `t`."""
    start = floor_interval(t, minutes, tz)
    nxt = floor_interval(start + timedelta(minutes=minutes), minutes, tz)
    if nxt <= start:  # a DST fold: step over it
        nxt = floor_interval(start + timedelta(minutes=2 * minutes), minutes, tz)
    return nxt
