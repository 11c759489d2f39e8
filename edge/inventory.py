"""The `birth` inventory: zones, devices and points as the profiles describe them."""

from __future__ import annotations

from typing import Any

from edge.feed import quality, scalar
from edge.stores import Stores
from edge.uplink.contract import BirthBody, BirthDevice, BirthPoint, BirthZone
from edge.venue import Venue

SOFTWARE = "edged 0.1.0"


def birth(venue: Venue, stores: Stores, config_version: int) -> BirthBody:
    cfg = venue.config
    online = stores.points.devices()
    by_device: dict[str, list[BirthPoint]] = {}
    for ref, info in sorted(venue.points.items()):
        st = stores.points.get(ref)
        by_device.setdefault(info.device, []).append(
            BirthPoint(
                name=info.name,
                datatype=info.datatype,
                unit=info.unit or None,
                writable=info.controlled,
                value=scalar(st.value) if st else None,
                quality=quality(st.quality) if st else "uncertain",
            )
        )
    devices = []
    for d in cfg.devices:
        loc: dict[str, Any] = {
            k: v
            for k, v in (
                ("building", d.location.building),
                ("floor", d.location.floor),
                ("room", d.location.room),
                ("x", d.location.x),
                ("y", d.location.y),
            )
            if v not in ("", None)
        }
        devices.append(
            BirthDevice(
                id=d.id,
                profile=d.profile,
                zone=d.zone,
                location=loc,
                online=bool(online.get(d.id)),
                points=by_device.get(d.id, []),
            )
        )
    zones = [BirthZone(id=z.id, kind=z.kind, name=z.name, parent=z.parent) for z in cfg.zones]
    return BirthBody(
        zones=zones, devices=devices, software=SOFTWARE, config_version=str(config_version)
    )
