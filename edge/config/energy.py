"""The `[energy]` config table (used by edge/energy)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class EnergyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    interval_min: Literal[1, 5, 10, 15, 20, 30, 60] = 15
    """Interval length; intervals are aligned to the wall clock in the venue timezone."""
    max_kw: Annotated[float, Meta(gt=0, le=100_000)] = 2000.0
    """More than this through one meter is an absurd jump, rejected."""
    max_gap_s: Annotated[float, Meta(gt=0, le=86400)] = 180.0
    """No reading for longer than this = meter offline: the span is estimated."""
    settle_s: Annotated[float, Meta(ge=0, le=3600)] = 30.0
    """Wait this long after an interval or booking ends for readings past its end."""
    booking_pre_start_min: Annotated[float, Meta(ge=0, le=600)] | None = None
    """Fixed pre-conditioning time before a booking start; None = from the templates."""
    history_h: Annotated[float, Meta(ge=1, le=24 * 14)] = 48.0
    """How much counter history is kept (memory and database) for booking energy."""
    nested_meters: bool = True
    """A meter in a zone below a metered zone is a sub-meter: the upstream meter counts its
    energy too, so booking energy uses each meter's reading less its sub-meters'."""
    upstream: dict[str, str] = msgspec.field(default_factory=dict)
    """meter -> the meter that also counts it ("" for none); overrides the inference."""
