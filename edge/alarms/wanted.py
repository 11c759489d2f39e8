"""`zone_wanted(zone, t)` from the rules' last evaluation, for the lights-left-on detector.

A zone is wanted when any light or HVAC enable output of it (or of a zone below it)
has a truthy winning value at a level above the relinquish default: a booking, a
schedule, an event rule, a manual override or life safety. Before the first evaluation
every zone counts as wanted: an unknown state never accuses anyone of waste.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rules.bookings import descendants
from rules.evaluation import Evaluation
from rules.levels import Level
from rules.model import Site


def zone_outputs(site: Site) -> dict[str, set[str]]:
    zones = {z.id: z for z in site.zones}
    own = {
        z.id: {light.output for light in z.lights} | {h.enable for h in z.hvac if h.enable}
        for z in site.zones
    }
    return {zid: set().union(*(own[d] for d in below)) for zid, below in descendants(zones).items()}


def zone_wanted_from(
    site: Site, last: Callable[[], Evaluation | None]
) -> Callable[[str, datetime], bool]:
    outputs = zone_outputs(site)

    def wanted(zone: str, t: datetime) -> bool:
        ev = last()
        if ev is None:
            return True
        for ref in outputs.get(zone, ()):
            state = ev.outputs.get(ref)
            w = state.winner if state is not None else None
            if w is not None and w.level is not Level.DEFAULT and bool(w.value):
                return True
        return False

    return wanted
