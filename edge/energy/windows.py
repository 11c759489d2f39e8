"""A booking's energy window: from its pre-conditioning start to its end.

The pre-conditioning start is the earlier of the lights' pre-start and the HVAC lead of
the HVAC serving the zone (its own, or an ancestor's that follows its children), from
the rules templates. With optimal start the real lead varies with the weather; the
template's fixed lead is the documented, conservative stand-in (the lead may pass the
engine's actual pre-start instead).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from rules.model import Site, ZoneSpec
from rules.templates import template_for


class BookingTimes(Protocol):
    @property
    def zone(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


WindowFn = Callable[[BookingTimes], tuple[datetime, datetime]]


def fixed_window(pre_start: timedelta) -> WindowFn:
    return lambda b: (b.start - pre_start, b.end)


def window_from_site(site: Site) -> WindowFn:
    zones = {z.id: z for z in site.zones}
    leads: dict[str, timedelta] = {}
    for z in site.zones:
        lead = timedelta(0)
        tpl = template_for(site, z)
        if z.lights:
            lead = max(lead, tpl.lights_pre_start)
        cur: ZoneSpec | None = z
        seen: set[str] = set()
        while cur is not None and cur.id not in seen:
            seen.add(cur.id)
            t = template_for(site, cur)
            if cur.hvac and (cur is z or t.follow_children):
                lead = max(lead, t.hvac_fixed_lead)
            cur = zones.get(cur.parent) if cur.parent is not None else None
        leads[z.id] = lead

    def window(b: BookingTimes) -> tuple[datetime, datetime]:
        return b.start - leads.get(b.zone, timedelta(0)), b.end

    return window


def window_with_prestarts(
    site: Site, prestart_of: Callable[[str, datetime], datetime | None]
) -> WindowFn:
    """Like `window_from_site`, but from the actual optimal-start instant when it is known.

    `prestart_of(zone, booking_start)` gives when the HVAC serving `zone` began
    pre-conditioning for a window starting at `booking_start` (None when it did not or
    is not known, e.g. after a restart: then the template's fixed lead applies).
    """
    fallback = window_from_site(site)
    zones = {z.id: z for z in site.zones}

    def window(b: BookingTimes) -> tuple[datetime, datetime]:
        cur: ZoneSpec | None = zones.get(b.zone)
        seen: set[str] = set()
        actual: list[datetime] = []
        while cur is not None and cur.id not in seen:
            seen.add(cur.id)
            since = prestart_of(cur.id, b.start)
            if since is not None:
                actual.append(since)
            cur = zones.get(cur.parent) if cur.parent is not None else None
        if not actual:
            return fallback(b)
        zone = zones.get(b.zone)
        lights = template_for(site, zone).lights_pre_start if zone and zone.lights else None
        starts = [*actual, b.start - lights] if lights is not None else actual
        return min(starts), b.end

    return window
