"""Shared fixtures for access tests: a fixed issuer key, a site, in-memory bookings/state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access import (
    AccessPolicy,
    BookingView,
    DecisionContext,
    Direction,
    GateSpec,
    IssuerKey,
    KeyRing,
    PassFields,
    PassUsage,
    RevocationKind,
    SiteAccess,
    issue_pass,
)

SITE = "wcp-main"
KID = "k2026a"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
START = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
"""Booking b-1 runs 18:00-19:00 on court-3."""
END = START + timedelta(hours=1)
NOW = START + timedelta(minutes=5)

GATES = (
    GateSpec("gate-main", frozenset({"court-3", "hall-a"}), Direction.IN),
    GateSpec("gate-main-out", frozenset({"court-3", "hall-a"}), Direction.OUT),
    GateSpec("gate-gym", frozenset({"gym"}), Direction.IN),
    GateSpec("fire-exit", frozenset({"hall-a"}), Direction.IN, egress=True),
    GateSpec("barrier", frozenset({"car-park"}), Direction.IN),
)


def ring(*, not_after: datetime | None = None) -> KeyRing:
    return KeyRing([IssuerKey(KID, KEY.public_key(), not_after)])


def site(policy: AccessPolicy | None = None, keys: KeyRing | None = None) -> SiteAccess:
    return SiteAccess.build(SITE, keys or ring(), GATES, policy)


def fields(**changes: object) -> PassFields:
    base = PassFields(
        pass_id="p-1",
        booking_id="b-1",
        site=SITE,
        not_before=START - timedelta(minutes=15),
        expires=END + timedelta(minutes=15),
        entries=2,
        zones=("court-3",),
        gates=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def mint(key: Ed25519PrivateKey = KEY, kid: str = KID, **changes: object) -> str:
    return issue_pass(key, kid, fields(**changes))


def booking(**changes: object) -> BookingView:
    base = BookingView(
        booking_id="b-1",
        site=SITE,
        start=START,
        end=END,
        zones=frozenset({"court-3"}),
        member_id="m-42",
        plate="京A12345",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class MemoryBookings:
    """In-memory `BookingLookup` (the real one lives in the booking store)."""

    items: dict[str, BookingView] = field(default_factory=dict)

    def put(self, b: BookingView) -> None:
        self.items[b.booking_id] = b

    def by_id(self, booking_id: str) -> BookingView | None:
        return self.items.get(booking_id)

    def _overlapping(self, start: datetime, end: datetime) -> list[BookingView]:
        return [b for b in self.items.values() if b.start <= end and b.end >= start]

    def for_member(self, member_id: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        return [b for b in self._overlapping(start, end) if b.member_id == member_id]

    def for_plate(self, plate: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        return [b for b in self._overlapping(start, end) if b.plate == plate]


@dataclass
class MemoryState:
    """In-memory `AccessState` for pure decision tests."""

    used: dict[str, PassUsage] = field(default_factory=dict)
    revoked: set[tuple[RevocationKind, str]] = field(default_factory=set)

    def usage(self, pass_id: str) -> PassUsage:
        return self.used.get(pass_id, PassUsage())

    def is_revoked(self, kind: RevocationKind, value: str) -> bool:
        return (kind, value) in self.revoked


def context(
    bookings: Sequence[BookingView] | None = None,
    state: MemoryState | None = None,
    *,
    policy: AccessPolicy | None = None,
    keys: KeyRing | None = None,
    emergency: bool = False,
    counts_lost_at: datetime | None = None,
) -> DecisionContext:
    store = MemoryBookings()
    for b in (booking(),) if bookings is None else bookings:
        store.put(b)
    return DecisionContext(
        site(policy, keys), store, state or MemoryState(), emergency, counts_lost_at
    )
