"""evaluate(world, t): the desired value of every output at every priority level.

Level-triggered: the result depends only on (world, t), never on what was
evaluated before, except through `world.memory`, which the previous
evaluation returned (hold timers, optimal-start latches, the emergency
latch) and the caller feeds back. Bad items (unknown zone, end <= start...)
are skipped and listed in `Evaluation.ignored`; evaluate does not raise on
bad data, only on a naive `t`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from rules.bookings import booking_segments, latest_bookings
from rules.emergency import alarm_present, emergency_outputs, latch
from rules.errors import NaiveTimeError
from rules.evaluation import Cause, Evaluation, OutputState, Wanted
from rules.events import event_segments, points_of, step
from rules.levels import LEVELS_BY_PRIORITY, Level
from rules.model import EventTrack, Memory, Site, Value, World, ZoneSpec
from rules.schedules import schedule_segments
from rules.segments import Segment, resolve


def site_timezone(site: Site) -> ZoneInfo:
    """The venue timezone; an unknown name falls back to UTC (validate reports it)."""
    try:
        return ZoneInfo(site.timezone)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return ZoneInfo("UTC")


def default_values(site: Site) -> dict[str, Value]:
    """Relinquish defaults: lights and HVAC enables off, then the site's explicit defaults."""
    out: dict[str, Value] = {}
    for z in site.zones:
        for light in z.lights:
            out.setdefault(light.output, light.off)
        for h in z.hvac:
            if h.enable is not None:
                out.setdefault(h.enable, h.off)
    out.update(site.defaults)
    return out


def evaluate(world: World, t: datetime) -> Evaluation:
    """Wanted values of every output at instant t (aware), and the next change."""
    if t.tzinfo is None:
        raise NaiveTimeError("evaluation instant t")
    t = t.astimezone(UTC)
    site = world.site
    zones: dict[str, ZoneSpec] = {}
    for z in site.zones:
        zones.setdefault(z.id, z)
    ignored: list[str] = []
    levels: dict[tuple[str, Level], list[Segment]] = defaultdict(list)
    watched: set[str] = set()
    extra_changes: list[datetime] = []

    # life safety
    watched |= {a.point for a in site.emergency.alarms}
    alarm = alarm_present(site.emergency, world.inputs)
    reset_at = _utc(world.emergency_reset_at)
    em = latch(world.memory.emergency, alarm, reset_at, t)
    if em.since is not None:
        detail = "fire alarm" if alarm else "fire alarm cleared, awaiting reset"
        for out, value in emergency_outputs(site.emergency, site.zones).items():
            levels[(out, Level.LIFE_SAFETY)].append(
                Segment(em.since, None, value, "emergency", "fire-panel", detail)
            )

    # manual overrides: the latest issued wins
    for o in world.overrides:
        start, end = _utc(o.issued_at), _utc(o.expires_at)
        if start is None or end is None or end <= start:
            ignored.append(f"override {o.id}: expires_at must be after issued_at (aware)")
            continue
        detail = f"{o.source} {o.by}" + (f": {o.reason}" if o.reason else "")
        levels[(o.output, Level.MANUAL)].append(
            Segment(start, end, o.value, "override", o.id, detail, (start.timestamp(), 0.0))
        )

    # bookings
    bookings = latest_bookings(site, world.bookings, zones, ignored)
    br = booking_segments(
        site, zones, bookings, world.entries, world.learned, world.inputs,
        {k: v.astimezone(UTC) for k, v in world.memory.prestarts.items()}, t,
    )  # fmt: skip
    ignored.extend(br.ignored)
    watched |= br.watched
    for out, segs in br.segments.items():
        levels[(out, Level.BOOKING)].extend(segs)
    extra_changes.extend(v for v in br.prestarts.values() if v > t)
    if br.wake_by is not None:
        extra_changes.append(br.wake_by)

    # schedules
    tz = site_timezone(site)
    for sch in site.schedules:
        segs_by_out, nxt = schedule_segments(sch, tz, t)
        for out, segs in segs_by_out.items():
            levels[(out, Level.SCHEDULE)].extend(segs)
        if nxt is not None:
            extra_changes.append(nxt)

    # event rules (any level the action names)
    tracks: dict[str, EventTrack] = {}
    for rule in site.event_rules:
        watched |= points_of(rule)
        track = step(rule, world.memory.events.get(rule.id, EventTrack()), world.inputs, t)
        if track != EventTrack():
            tracks[rule.id] = track
        for level, out, seg in event_segments(rule, track):
            levels[(out, level)].append(seg)
        if track.trigger_since is not None:
            extra_changes.append(track.trigger_since + rule.hold)
        if track.end_since is not None:
            extra_changes.append(track.end_since + rule.end_hold)

    defaults = default_values(site)
    outputs = sorted({out for out, _ in levels} | set(defaults))
    changes = [c for c in extra_changes if c > t]
    states: dict[str, OutputState] = {}
    for out in outputs:
        wanted: list[Wanted] = []
        for level in LEVELS_BY_PRIORITY:
            if level is Level.DEFAULT:
                if out in defaults:
                    cause = Cause(kind="default", id=out, since=None, until=None)
                    wanted.append(Wanted(output=out, value=defaults[out], level=level, cause=cause))
                continue
            found = levels.get((out, level))
            if not found:
                continue
            resolved, until = resolve(found, t)
            if until is not None:
                changes.append(until)
            if resolved is not None:
                seg = resolved.segment
                cause = Cause(kind=seg.kind, id=seg.cause_id, since=resolved.since,
                              until=resolved.until, detail=seg.detail)  # fmt: skip
                wanted.append(Wanted(output=out, value=seg.value, level=level, cause=cause))
        states[out] = OutputState(output=out, levels=tuple(wanted), winner=_first(wanted))
    memory = Memory(events=tracks, prestarts=br.prestarts, emergency=em)
    return Evaluation(
        at=t,
        outputs=states,
        next_change=min(changes, default=None),
        memory=memory,
        watched_points=tuple(sorted(watched)),
        prestarts=tuple(sorted(br.warmups, key=lambda p: (p.zone, p.due))),
        ignored=tuple(ignored),
    )


def _first(wanted: list[Wanted]) -> Wanted | None:
    return wanted[0] if wanted else None


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is None:
        return None
    return dt.astimezone(UTC)
