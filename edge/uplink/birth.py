"""Splitting the inventory into a `birth` head and `birth/part/{i}` parts.

AWS IoT Core refuses messages over 128 KB, and the inventory of a venue of a hundred
devices is larger than that. So a birth is a small head (zones, counts, how many parts)
and parts of whole devices packed up to `PART_BUDGET` bytes, all carrying the same
`birth_id`: a consumer has the birth once it holds the head and parts `0..parts-1` with
that id (docs/mqtt.md "birth"). Only a single device larger than the budget makes a part
over it, and no shipped profile comes near that.
"""

from __future__ import annotations

import msgspec

from edge.uplink.contract import BirthBody, BirthDevice, BirthHeadBody, BirthPartBody

MESSAGE_LIMIT = 128 * 1024
"""AWS IoT Core's largest message; every birth message must stay below it."""
PART_BUDGET = 64 * 1024
"""Bytes of one part message, envelope included: half the limit, so a part stays well
below it even when a device's values grow (text values such as a fire panel's table)."""
ENVELOPE_ALLOWANCE = 512
"""Room for the envelope (stream, session, seq, msg_id, ts, historical) and part fields."""

_encode = msgspec.json.Encoder().encode


def split(
    body: BirthBody, birth_id: str, budget: int = PART_BUDGET
) -> tuple[BirthHeadBody, list[BirthPartBody]]:
    """The head and the parts of `body`, devices in their order, each part under `budget`."""
    groups: list[list[BirthDevice]] = []
    size = budget  # start a new part on the first device
    for device in body.devices:
        need = len(_encode(device)) + 1  # the comma between devices
        if size + need > budget - ENVELOPE_ALLOWANCE - len(body.config_version) and size > 0:
            groups.append([])
            size = 0
        groups[-1].append(device)
        size += need
    parts = [
        BirthPartBody(
            birth_id=birth_id,
            part=i,
            parts=len(groups),
            config_version=body.config_version,
            devices=devices,
        )
        for i, devices in enumerate(groups)
    ]
    head = BirthHeadBody(
        birth_id=birth_id,
        parts=len(parts),
        devices=len(body.devices),
        points=sum(len(d.points) for d in body.devices),
        zones=body.zones,
        software=body.software,
        config_version=body.config_version,
    )
    return head, parts


__all__ = ["MESSAGE_LIMIT", "PART_BUDGET", "split"]
