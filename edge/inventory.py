"""The `birth` inventory: zones, devices and points as the profiles describe them.

Every field of a point comes from the venue's point table (`edge.venue.PointInfo`, built
from the resolved profiles): the wire datatype and JSON type, unit, range, enum labels,
roles and zone. `writable` is what the gateway may write, the same set that
`set_point` and `edgectl write` accept (`Venue.outputs`), booked or not.
"""

from __future__ import annotations

from typing import Any, cast

from edge.feed import quality, scalar
from edge.field.points import PointTable
from edge.uplink.contract import (
    BirthBody,
    BirthDevice,
    BirthPoint,
    BirthZone,
    JsonType,
    WireDatatype,
)
from edge.venue import PointInfo, Venue

SOFTWARE = "edged 0.1.0"


def birth_point(info: PointInfo, venue: Venue, points: PointTable) -> BirthPoint:
    st = points.get(info.ref)
    return BirthPoint(
        name=info.name,
        datatype=cast(WireDatatype, info.datatype),  # DataType values, checked by a test
        json_type=cast(JsonType, info.json_type),
        unit=info.unit or None,
        writable=info.ref in venue.outputs,
        min=info.min,
        max=info.max,
        enum=dict(info.enum) if info.enum else None,
        roles=list(info.roles),
        zone=info.zone,
        value=scalar(st.value) if st else None,
        quality=quality(st.quality) if st else "uncertain",
    )


def birth(venue: Venue, points: PointTable, config_version: int) -> BirthBody:
    cfg = venue.config
    online = points.devices()
    by_device: dict[str, list[BirthPoint]] = {}
    for _, info in sorted(venue.points.items()):
        by_device.setdefault(info.device, []).append(birth_point(info, venue, points))
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
                name=d.name,
                zone=d.zone,
                floor=d.location.floor,
                location=loc,
                online=bool(online.get(d.id)),
                points=by_device.get(d.id, []),
            )
        )
    zones = [BirthZone(id=z.id, kind=z.kind, name=z.name, parent=z.parent) for z in cfg.zones]
    return BirthBody(
        zones=zones, devices=devices, software=SOFTWARE, config_version=str(config_version)
    )
