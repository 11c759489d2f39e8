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
