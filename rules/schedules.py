"""Weekly opening hours with exceptions -> schedule-level segments.

Hours are local wall time in the venue timezone; each local day is turned
into UTC instants through zoneinfo, so a DST change moves the UTC instant and
not the local opening time. A local time that does not exist (spring forward)
maps to the instant after the gap; an ambiguous one (fall back) to its first
occurrence. All arithmetic happens in UTC: aware datetimes sharing a zoneinfo
tzinfo compare by wall time in Python, which is wrong across a DST change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.model import WEEKDAYS, Schedule, Span
from rules.segments import Segment

LOOK_BACK_DAYS = 7
LOOK_AHEAD_DAYS = 400


def hours_on(schedule: Schedule, day: date) -> tuple[Span, ...]:
    """Opening spans of a local date: the first matching exception, else the weekly hours."""
    for ex in schedule.exceptions:
        if ex.first <= day <= (ex.last or ex.first):
            return ex.hours
    return schedule.weekly.get(WEEKDAYS[day.weekday()], ())


def _local(day: date, span: Span, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, span.start, tzinfo=tz)
    end_day = day if span.end > span.start else day + timedelta(days=1)
    end = datetime.combine(end_day, span.end, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _day_intervals(
    schedule: Schedule, tz: ZoneInfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    raw: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        raw.extend(_local(day, span, tz) for span in hours_on(schedule, day))
        day += timedelta(days=1)
    return raw


def _merge(raw: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for s, e in sorted(raw):
        if s >= e:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def open_intervals(
    schedule: Schedule, tz: ZoneInfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    """Merged UTC opening intervals of the local days first..last."""
    return _merge(_day_intervals(schedule, tz, first, last))


def schedule_segments(
    schedule: Schedule, tz: ZoneInfo, t: datetime
) -> tuple[dict[str, list[Segment]], datetime | None]:
    """Segments per output around t, and the next open/close instant after t (None: never)."""
    today = t.astimezone(tz).date()
    first = today - timedelta(days=LOOK_BACK_DAYS)
    last = today + timedelta(days=1)
    raw: list[tuple[datetime, datetime]] = []
    if any(schedule.weekly.values()) or any(ex.hours for ex in schedule.exceptions):
        raw = _day_intervals(schedule, tz, first, last)
        horizon = today + timedelta(days=LOOK_AHEAD_DAYS)
        # extend week by week until something happens after t (e.g. a long closure)
        while not any(e > t for _, e in raw) and last < horizon:
            nxt_week = last + timedelta(days=7)
            raw.extend(_day_intervals(schedule, tz, last + timedelta(days=1), nxt_week))
            last = nxt_week
    opens = _merge(raw)
    nxt = min((b for iv in opens for b in iv if b > t), default=None)
    # Closed gaps are unbounded at both ends: before the look-back the engine
    # does not look, and past the look-ahead nothing changes.
    out: dict[str, list[Segment]] = {}
    for so in schedule.outputs:
        segs = [Segment(s, e, so.value, "schedule", schedule.id, "open") for s, e in opens]
        if so.closed_value is not None:
            edges: list[datetime | None] = [None]
            for s, e in opens:
                edges.extend((s, e))
            edges.append(None)
            for i in range(0, len(edges), 2):
                s0, e0 = edges[i], edges[i + 1]
                if s0 is not None and e0 is not None and s0 >= e0:
                    continue
                segs.append(Segment(s0, e0, so.closed_value, "schedule", schedule.id, "closed"))
        out[so.output] = segs
    return out, nxt
