"""The outbox's bounds, derived from the venue's `[uplink]` (declared once, in
`edge.config.model.Uplink`, with the one set of defaults)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from edge.config.model import (
    OUTBOX_INFLIGHT,
    OUTBOX_MAX_AGE_H,
    OUTBOX_MAX_BYTES,
    OUTBOX_MAX_MESSAGES,
    Uplink,
)

PositiveInt = Annotated[int, Meta(gt=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]


class OutboxConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Bounds of the durable outbox; beyond them `state` (then plain events) are evicted."""

    max_messages: PositiveInt = OUTBOX_MAX_MESSAGES
    """Most messages kept while the link is down."""
    max_bytes: PositiveInt = OUTBOX_MAX_BYTES
    """Most payload bytes kept."""
    max_age_s: PositiveFloat = OUTBOX_MAX_AGE_H * 3600
    """Evictable messages older than this are dropped (alarms, access events, energy never)."""
    inflight: Annotated[int, Meta(ge=1, le=1000)] = OUTBOX_INFLIGHT
    """Publishes awaiting PUBACK at once (the in-flight window)."""


def outbox_config(uplink: Uplink) -> OutboxConfig:
    return OutboxConfig(
        max_messages=uplink.outbox_max_messages,
        max_bytes=uplink.outbox_max_bytes,
        max_age_s=uplink.outbox_max_age_h * 3600,
        inflight=uplink.inflight,
    )
