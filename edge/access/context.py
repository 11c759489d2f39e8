"""Everything `decide` reads besides the credential and the time, as plain data and protocols.

The static part (`SiteAccess`) comes from the venue config; the live part (bookings,
revocations, pass usage) is behind small protocols so that the SQLite store, an
in-memory test double and the benchmark all feed the same pure `decide`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from edge.access.keys import KeyRing


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class RevocationKind(StrEnum):
    PASS = "pass"
    MEMBER = "member"
    PLATE = "plate"


@dataclass(frozen=True)
class GateSpec:
    gate_id: str
    zones: frozenset[str] = frozenset()
    """Zones this gate admits to: a pass allowing any of them may use the gate."""
    direction: Direction = Direction.IN
    """`out` gates only record exits (they clear anti-passback); they never count entries."""
    egress: bool = False
    """On the egress path: in an emergency every decision here is `emergency`, granted."""


@dataclass(frozen=True)
class AccessPolicy:
    early_entry_s: float = 15 * 60
    """How long before a booking starts its holder may enter."""
    late_grace_s: float = 15 * 60
    """How long after a booking ends its holder may still enter."""
    passback_window_s: float = 10 * 60
    """A second entry on one pass without an exit within this window is `passback`."""
    trust_unknown_booking: bool = False
    """Grant a valid pass whose booking has not reached the local store yet (offline sync lag).
    Off by default: then a cancellation can never be missed."""
    lookaround_s: float = 12 * 3600
    """How far around now member/plate lookups search, to tell `expired` from `no_booking`."""


@dataclass(frozen=True)
class SiteAccess:
    """The access part of the venue config, decoded once; a reload builds a new one."""

    site: str
    keys: KeyRing
    gates: Mapping[str, GateSpec]
    policy: AccessPolicy = field(default_factory=AccessPolicy)

    @classmethod
    def build(
        cls, site: str, keys: KeyRing, gates: Iterable[GateSpec], policy: AccessPolicy | None = None
    ) -> SiteAccess:
        table = {g.gate_id: g for g in gates}
        return cls(site, keys, MappingProxyType(table), policy or AccessPolicy())


@dataclass(frozen=True)
class BookingView:
    """The few booking facts access needs; the booking store converts to this."""

    booking_id: str
    site: str
    start: datetime
    end: datetime
    zones: frozenset[str] = frozenset()
    cancelled: bool = False
    """Cancelled, or otherwise no longer admitting (e.g. released as a no-show)."""
    member_id: str | None = None
    plate: str | None = None
    """Normalised with `normalise_plate`."""


@dataclass(frozen=True)
class PassUsage:
    entries: int = 0
    last_direction: Direction | None = None
    last_ts: datetime | None = None


class BookingLookup(Protocol):
    def by_id(self, booking_id: str) -> BookingView | None: ...

    def for_member(self, member_id: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        """Bookings of `member_id` overlapping [start, end] (more is harmless)."""
        ...

    def for_plate(self, plate: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        """Bookings carrying `plate` (normalised) overlapping [start, end]."""
        ...


class AccessState(Protocol):
    def usage(self, pass_id: str) -> PassUsage: ...

    def is_revoked(self, kind: RevocationKind, value: str) -> bool: ...


@dataclass(frozen=True)
class DecisionContext:
    site: SiteAccess
    bookings: BookingLookup
    state: AccessState
    emergency: bool = False
    counts_lost_at: datetime | None = None
    """When pass entry counts may last have been lost (edge.access.loss); None: never."""
