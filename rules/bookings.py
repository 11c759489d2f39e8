"""Bookings -> booking-level segments for lights and HVAC.

A zone's outputs follow the union of its own bookings and (by default) those
of its descendant zones, so one hall HVAC serving six courts runs while any
court is booked. An output listed on several zones gets the segments of each
zone: the union again. Overlapping or touching windows simply overlap as
segments, and the resolver sees one continuous value: no off/on between
back-to-back bookings.

Lights: [start - pre_start, end + post_end). HVAC: [start, end + hvac_post_end),
plus one optimal-start lead [S - lead, S) before each merged HVAC window start S.
No-show release: without a granted entry by start + N, from start + N until the
next granted entry the booking only contributes its weak "released" values
(dimmed lights, setback setpoint), which any normal booking segment outranks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from rules.model import Booking, Entry, PointValue, Site, Template, Value, ZoneSpec
from rules.optimal_start import LearnedRates, PreStart, lead_time
from rules.segments import Segment
from rules.templates import target_temp, template_for

HORIZON = timedelta(hours=36)
HORIZON_SLACK = timedelta(hours=12)
"""More than any pre-start, lead time or post-end time."""
NORMAL = 2.0
RELEASED = 1.0


@dataclass
class BookingResult:
    """Booking-level segments per output, plus bookkeeping for the engine."""

    segments: dict[str, list[Segment]] = field(default_factory=lambda: defaultdict(list))
    prestarts: dict[str, datetime] = field(default_factory=dict)
    watched: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)
    warmups: list[PreStart] = field(default_factory=list)
    wake_by: datetime | None = None
    """Re-evaluate by then: bookings beyond the horizon were left out, or an entry is
    stamped after t."""


def num(v: Value) -> float:
    return float(v)


def latest_bookings(
    site: Site, bookings: tuple[Booking, ...], zones: dict[str, ZoneSpec], ignored: list[str]
) -> list[Booking]:
    """Latest version of each booking, confirmed and sane, times in UTC, sorted by id."""
    newest: dict[str, Booking] = {}
    for b in bookings:
        cur = newest.get(b.booking_id)
        if cur is None or _precedence(b, cur):
            newest[b.booking_id] = b
    out: list[Booking] = []
    for bid in sorted(newest):
        b = newest[bid]
        if b.status != "confirmed":
            continue
        if b.zone not in zones:
            ignored.append(f"booking {bid}: unknown zone {b.zone!r}")
            continue
        if b.start.tzinfo is None or b.end.tzinfo is None:
            ignored.append(f"booking {bid}: naive datetime")
            continue
        start, end = b.start.astimezone(UTC), b.end.astimezone(UTC)
        if end <= start or end - start > site.max_booking:
            ignored.append(f"booking {bid}: bad duration {start.isoformat()}..{end.isoformat()}")
            continue
        out.append(msgspec.structs.replace(b, start=start, end=end))
    return out


def _precedence(b: Booking, cur: Booking) -> bool:
    """Does b supersede cur? Higher version; at equal versions a cancellation (a replay
    never resurrects it), then the encoded content, so input order never matters."""
    kb, kc = (b.version, b.status == "cancelled"), (cur.version, cur.status == "cancelled")
    if kb != kc:
        return kb > kc
    return msgspec.json.encode(b) > msgspec.json.encode(cur)


def descendants(zones: dict[str, ZoneSpec]) -> dict[str, list[str]]:
    """zone id -> ids of the zone and every zone below it (cycles cut)."""
    children: dict[str, list[str]] = defaultdict(list)
    for z in zones.values():
        if z.parent is not None:
            children[z.parent].append(z.id)
    out: dict[str, list[str]] = {}
    for zid in zones:
        seen = [zid]
        stack = list(children.get(zid, ()))
        while stack:
            c = stack.pop()
            if c not in seen:
                seen.append(c)
                stack.extend(children.get(c, ()))
        out[zid] = seen
    return out


def _release(
    b: Booking, release_after: timedelta | None, entries: dict[str, list[datetime]]
) -> tuple[datetime, datetime | None] | None:
    """[release start, comeback or None) if the booking is a no-show, else None."""
    if release_after is None:
        return None
    deadline = b.start + release_after
    seen = entries.get(b.booking_id, [])
    if any(e <= deadline for e in seen):
        return None
    back = min((e for e in seen if e > deadline), default=None)
    return deadline, back


def _split(
    start: datetime,
    end: datetime,
    release: tuple[datetime, datetime | None] | None,
) -> list[tuple[datetime, datetime, bool]]:
    """[start, end) cut into (from, to, released) pieces."""
    if release is None or release[0] >= end:
        return [(start, end, False)]
    r0 = max(release[0], start)
    r1 = end if release[1] is None else min(max(release[1], r0), end)
    pieces = [(start, r0, False), (r0, r1, True), (r1, end, False)]
    return [p for p in pieces if p[0] < p[1]]


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def booking_segments(
    site: Site,
    zones: dict[str, ZoneSpec],
    bookings: list[Booking],
    entries: tuple[Entry, ...],
    learned: LearnedRates,
    inputs: dict[str, PointValue],
    prestarts: dict[str, datetime],
    t: datetime,
) -> BookingResult:
    """Booking-level segments of every zone output at instant t."""
    res = BookingResult()
    granted: dict[str, list[datetime]] = defaultdict(list)
    for e in entries:
        at = e.at.astimezone(UTC) if e.at.tzinfo is not None else None
        if at is None:
            continue
        if at <= t:
            granted[e.booking_id].append(at)
        elif res.wake_by is None or at < res.wake_by:
            # an entry stamped after t is not known yet at t; it counts from its instant on
            res.wake_by = at
    by_zone: dict[str, list[Booking]] = defaultdict(list)
    for b in bookings:
        # Only bookings near t can matter now; a far-future one is looked at again
        # by HORIZON (a wake-up instant), so it is never missed.
        if b.start - HORIZON_SLACK > t + HORIZON:
            res.wake_by = min(t + HORIZON, res.wake_by or t + HORIZON)
            continue
        if b.end + HORIZON_SLACK < t - HORIZON:
            continue  # long past: at most truncates a Cause.since
        by_zone[b.zone].append(b)
    below = descendants(zones)
    # Whether a booking is a no-show is decided by its own zone's template, and
    # then applies to every output it drives (court lights and the hall HVAC).
    templates = {zid: template_for(site, z) for zid, z in zones.items()}
    releases = {
        b.booking_id: _release(b, templates[b.zone].no_show_release, granted) for b in bookings
    }
    for zone in zones.values():
        if not zone.lights and not zone.hvac:
            continue
        tpl = templates[zone.id]
        members = below[zone.id] if tpl.follow_children else [zone.id]
        driving = [b for zid in members for b in by_zone.get(zid, ())]
        if not driving:
            continue
        _lights(res, zone, driving, tpl.lights_pre_start, tpl.lights_post_end, releases)
        if zone.hvac:
            _hvac(res, site, zone, tpl, driving, releases, learned, inputs, prestarts, t)
    return res


def _lights(
    res: BookingResult,
    zone: ZoneSpec,
    driving: list[Booking],
    pre: timedelta,
    post: timedelta,
    releases: dict[str, tuple[datetime, datetime | None] | None],
) -> None:
    detail = f"{zone.id} lights"
    detail_released = f"{zone.id} lights (no-show release)"
    for b in driving:
        for s, e, released in _split(b.start - pre, b.end + post, releases[b.booking_id]):
            for light in zone.lights:
                value = light.dim if released else light.on
                if value is None:
                    continue
                rank = (RELEASED if released else NORMAL, float(value))
                res.segments[light.output].append(
                    Segment(s, e, value, "booking", b.booking_id,
                            detail_released if released else detail, rank)
                )  # fmt: skip


def _hvac(
    res: BookingResult,
    site: Site,
    zone: ZoneSpec,
    tpl: Template,
    driving: list[Booking],
    releases: dict[str, tuple[datetime, datetime | None] | None],
    learned: LearnedRates,
    inputs: dict[str, PointValue],
    prestarts: dict[str, datetime],
    t: datetime,
) -> None:
    target = target_temp(site, zone)
    for b in driving:
        hvac_end = b.end + tpl.hvac_post_end
        for s, e, released in _split(b.start, hvac_end, releases[b.booking_id]):
            detail = f"{zone.id} hvac" + (" (no-show release)" if released else "")
            _hvac_values(res, zone, s, e, b.booking_id, detail, target, released)
    lead = tpl.hvac_fixed_lead
    if zone.temp_point is not None:
        res.watched.add(zone.temp_point)
    reading = inputs.get(zone.temp_point) if zone.temp_point is not None else None
    if tpl.optimal_start and reading is not None and reading.quality == "good":
        lead = lead_time(learned, zone.id, float(reading.value), target, site.optimal_start)
    windows = _merge([(b.start, b.end + tpl.hvac_post_end) for b in driving])
    for start, end in windows:
        key = f"{zone.id}@{start.isoformat()}"
        pre_from = start - lead
        latched = prestarts.get(key)
        if latched is not None:
            pre_from = min(pre_from, latched)  # once started, never stop before the start
        if end > t and pre_from <= t < start:
            res.prestarts[key] = pre_from
            res.warmups.append(
                PreStart(zone=zone.id, since=pre_from, due=start, target_c=target,
                         lead_s=(start - pre_from).total_seconds())
            )  # fmt: skip
        if pre_from < start:
            first = min((b for b in driving if b.start == start), key=lambda b: b.booking_id)
            minutes = round((start - pre_from).total_seconds() / 60)
            detail = f"{zone.id} hvac optimal start, lead {minutes} min"
            _hvac_values(res, zone, pre_from, start, first.booking_id, detail, target, False)


def _hvac_values(
    res: BookingResult,
    zone: ZoneSpec,
    s: datetime,
    e: datetime,
    cause: str,
    detail: str,
    target: float,
    released: bool,
) -> None:
    setpoint = zone.setback_temp_c if released else target
    rank = RELEASED if released else NORMAL
    for h in zone.hvac:
        if h.enable is not None and setpoint is not None:
            res.segments[h.enable].append(
                Segment(s, e, h.on, "booking", cause, detail, (rank, num(h.on)))
            )
        if h.setpoint is not None and setpoint is not None:
            res.segments[h.setpoint].append(
                Segment(s, e, setpoint, "booking", cause, detail, (rank, setpoint))
            )
