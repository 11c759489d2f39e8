"""Default booking templates per zone kind, and the per-zone effective template."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from rules.model import Site, Template, ZoneSpec

DEFAULT_TEMPLATES: dict[str, Template] = {
    "court": Template(target_temp_c=25.0),
    "hall": Template(target_temp_c=25.0),
    "room": Template(target_temp_c=22.0),
    "reading_room": Template(target_temp_c=22.0),
    "exhibition": Template(target_temp_c=22.0),
    "lobby": Template(target_temp_c=21.0),
    "gate": Template(optimal_start=False, hvac_fixed_lead=timedelta(0)),
    "car_park": Template(optimal_start=False, hvac_fixed_lead=timedelta(0)),
}


def template_for(site: Site, zone: ZoneSpec) -> Template:
    """The zone kind's template (site, then built-in, then Template()) with the zone's patch."""
    base = site.templates.get(zone.kind) or DEFAULT_TEMPLATES.get(zone.kind) or Template()
    patch = {
        f: getattr(zone.template, f)
        for f in zone.template.__struct_fields__
        if getattr(zone.template, f) is not None
    }
    return msgspec.structs.replace(base, **patch) if patch else base


def target_temp(site: Site, zone: ZoneSpec) -> float:
    """The zone's target temperature (zone, then its template)."""
    if zone.target_temp_c is not None:
        return zone.target_temp_c
    return template_for(site, zone).target_temp_c
