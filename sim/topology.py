"""Which air each zone breathes, which loads each meter sees: derived once from the venue config.

- A zone's air is that of its nearest enclosing zone (itself included) that has HVAC
  (listed in `zone.hvac` or an HVAC device placed in it); without any, its top zone's.
  Six courts in a hall therefore share the hall's air, as they do in reality.
- A meter meters every light/HVAC device placed in its zone or the zones inside it;
  a meter placed in no zone meters the whole site. `SimParams.meters[id].loads` overrides.
- A zone is lit when any light output listed in `zone.lights` (or, when that list is
  empty, any channel of a lighting device placed in it) is lit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edge.config.model import VenueConfig

HVAC_PROFILES = frozenset({"hvac_fancoil"})
LIGHT_PROFILES = frozenset({"lighting_8ch"})
LOAD_PROFILES = HVAC_PROFILES | LIGHT_PROFILES
_CHANNEL = re.compile(r"^ch(\d+)_on$")


@dataclass
class Topology:
    parent: dict[str, str | None]
    kind: dict[str, str]
    air_of: dict[str, str]
    """zone id -> id of the zone whose air it shares."""
    lights_of: dict[str, list[tuple[str, int]]]
    """zone id -> (lighting device id, channel) outputs that light it."""
    meter_loads: dict[str, list[str]] = field(default_factory=dict)

    def ancestors(self, zone: str) -> list[str]:
        """`zone` then its parents up to the top."""
        out: list[str] = []
        z: str | None = zone
        while z is not None and z not in out:
            out.append(z)
            z = self.parent.get(z)
        return out

    def inside(self, zone: str, outer: str) -> bool:
        return outer in self.ancestors(zone)


def build(config: VenueConfig, explicit_meter_loads: dict[str, list[str] | None]) -> Topology:
    parent = {z.id: z.parent for z in config.zones}
    kind = {z.id: str(z.kind) for z in config.zones}
    has_hvac = {z.id for z in config.zones if z.hvac}
    has_hvac |= {d.zone for d in config.devices if d.profile in HVAC_PROFILES and d.zone}
    topo = Topology(parent=parent, kind=kind, air_of={}, lights_of={})
    for z in config.zones:
        chain = topo.ancestors(z.id)
        topo.air_of[z.id] = next((a for a in chain if a in has_hvac), chain[-1])
    devices = {d.id: d for d in config.devices}
    claimed: set[tuple[str, int]] = set()
    for z in config.zones:
        outs: list[tuple[str, int]] = []
        for ref in z.lights:
            dev, _, point = ref.partition(".")
            m = _CHANNEL.match(point)
            if m and dev in devices and devices[dev].profile in LIGHT_PROFILES:
                outs.append((dev, int(m.group(1))))
        claimed.update(outs)
        topo.lights_of[z.id] = outs
    for z in config.zones:
        if not z.lights:
            outs = [
                (d.id, ch)
                for d in config.devices
                if d.zone == z.id and d.profile in LIGHT_PROFILES
                for ch in range(1, 9)
                if (d.id, ch) not in claimed
            ]
            topo.lights_of[z.id] = outs
    for d in config.devices:
        if d.profile != "energy_meter":
            continue
        explicit = explicit_meter_loads.get(d.id)
        if explicit is not None:
            topo.meter_loads[d.id] = list(explicit)
            continue
        topo.meter_loads[d.id] = [
            x.id
            for x in config.devices
            if x.profile in LOAD_PROFILES
            and (d.zone is None or (x.zone is not None and topo.inside(x.zone, d.zone)))
        ]
    return topo
