"""Booking messages from the cloud (`bookings` snapshot, `bookings/delta`) and their checks.

A booking itself is `rules.model.Booking`, the daemon's one booking type: these
messages decode straight into it, so it is converted nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, timedelta
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from rules.model import AwareDatetime, Booking

BookingId = Annotated[str, Meta(min_length=1, max_length=128)]
MAX_DURATION = timedelta(hours=24)


class Signature(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Ed25519 signature of a booking message: the shape of a command's `sig`
    (edge.uplink.contract.Signature; declared here so bookings do not import the uplink)."""

    kid: Annotated[str, Meta(min_length=1, max_length=128)]
    alg: Literal["ed25519"] = "ed25519"
    value: Annotated[str, Meta(max_length=200)]
    """Base64 (standard alphabet, padded) of the 64-byte signature."""


class BookingSnapshot(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """All current bookings at `version` (retained on `bookings`)."""

    version: Annotated[int, Meta(ge=0)]
    bookings: list[Booking]
    generated_at: AwareDatetime | None = None
    reset: bool = False
    """Replace the store whatever its version (a recovery from a bogus stored version);
    honoured only when the snapshot is validly signed by a booking key."""
    sig: Signature | None = None


class BookingDelta(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The change from `version - 1` to `version` (on `bookings/delta`)."""

    version: Annotated[int, Meta(ge=1)]
    upsert: list[Booking] = field(default_factory=list)
    remove: list[BookingId] = field(default_factory=list)
    sig: Signature | None = None


def in_utc(b: Booking) -> Booking:
    """The same booking with start/end converted to UTC (how the store keeps them)."""
    start, end = b.start.astimezone(UTC), b.end.astimezone(UTC)
    if start == b.start and end == b.end and b.start.tzinfo is UTC and b.end.tzinfo is UTC:
        return b
    return Booking(
        booking_id=b.booking_id,
        zone=b.zone,
        start=start,
        end=end,
        member=b.member,
        status=b.status,
        version=b.version,
        plate=b.plate,
    )


def problems_of(
    bookings: Iterable[Booking],
    zone_known: Callable[[str], bool],
    focus: set[str] | None = None,
    max_duration: timedelta = MAX_DURATION,
) -> list[tuple[str, str]]:
    """Why bad bookings are bad: inverted times, absurd length, unknown zone, overlap.

    With `focus`, only problems involving those booking ids are reported (a delta is judged
    on the bookings it touches, in the context of everything else).
    """

    def wanted(*ids: str) -> bool:
        return focus is None or any(i in focus for i in ids)

    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    by_zone: dict[str, list[Booking]] = {}
    for b in bookings:
        if b.booking_id in seen and wanted(b.booking_id):
            problems.append((b.booking_id, "booking_id appears twice"))
        seen.add(b.booking_id)
        if wanted(b.booking_id):
            if b.end <= b.start:
                problems.append((b.booking_id, f"end {b.end.isoformat()} is not after start"))
            elif b.end - b.start > max_duration:
                hours = max_duration.total_seconds() / 3600
                problems.append((b.booking_id, f"lasts {b.end - b.start}, longer than {hours:g} h"))
            if not zone_known(b.zone):
                problems.append((b.booking_id, f"unknown zone {b.zone!r}"))
        if b.status == "confirmed" and b.end > b.start:
            by_zone.setdefault(b.zone, []).append(b)
    for items in by_zone.values():
        items.sort(key=lambda b: (b.start, b.end))
        latest = items[0]
        for cur in items[1:]:
            if cur.start < latest.end and wanted(cur.booking_id, latest.booking_id):
                problems.append(
                    (cur.booking_id, f"overlaps {latest.booking_id} in zone {cur.zone}")
                )
            if cur.end > latest.end:
                latest = cur
    return problems
