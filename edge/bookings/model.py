"""Booking messages from the cloud (`bookings` snapshot, `bookings/delta`) and their checks.

The lead maps `Booking` onto the rules engine's own type; fields mirror it on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Protocol

from msgspec import Meta, Struct, field

AwareDatetime = Annotated[datetime, Meta(tz=True)]
BookingId = Annotated[str, Meta(min_length=1, max_length=128)]
MAX_DURATION = timedelta(hours=24)


class Booking(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    booking_id: BookingId
    zone: Annotated[str, Meta(min_length=1, max_length=64)]
    start: AwareDatetime
    end: AwareDatetime
    member: str = ""
    plate: str | None = None
    status: Literal["confirmed", "cancelled"] = "confirmed"
    version: Annotated[int, Meta(ge=0)] = 0
    """Sync version at which this booking last changed."""

    def utc(self) -> Booking:
        """The same booking with start/end converted to UTC."""
        return Booking(
            booking_id=self.booking_id,
            zone=self.zone,
            start=self.start.astimezone(UTC),
            end=self.end.astimezone(UTC),
            member=self.member,
            plate=self.plate,
            status=self.status,
            version=self.version,
        )


class BookingLike(Protocol):
    """What readers of bookings (access, alarms, energy) use of a `Booking`."""

    @property
    def booking_id(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def member(self) -> str: ...
    @property
    def plate(self) -> str | None: ...


class BookingSnapshot(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """All current bookings at `version` (retained on `bookings`)."""

    version: Annotated[int, Meta(ge=0)]
    bookings: list[Booking]
    generated_at: AwareDatetime | None = None


class BookingDelta(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The change from `version - 1` to `version` (on `bookings/delta`)."""

    version: Annotated[int, Meta(ge=1)]
    upsert: list[Booking] = field(default_factory=list)
    remove: list[BookingId] = field(default_factory=list)


def problems_of(
    bookings: Iterable[Booking],
    zone_known: Callable[[str], bool],
    focus: set[str] | None = None,
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
            elif b.end - b.start > MAX_DURATION:
                problems.append((b.booking_id, f"lasts {b.end - b.start}, longer than 24 h"))
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
