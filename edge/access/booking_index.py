"""`BookingLookup` over the bookings, indexed by member and plate.

The gate component rebuilds the index from each version the booking store publishes
(new dicts swapped in whole, so the database thread reading them during a decision
never sees a half-built index).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from edge.access.context import BookingView
from edge.access.credentials import normalise_plate
from rules.model import Booking


def view_of(b: Booking, site: str) -> BookingView:
    return BookingView(
        booking_id=b.booking_id,
        site=site,
        start=b.start,
        end=b.end,
        zones=frozenset({b.zone}),
        cancelled=b.status != "confirmed",
        member_id=b.member or None,
        plate=None if b.plate is None else normalise_plate(b.plate),
    )


class BookingIndex:
    """`BookingIndex(site_id, bookings)`, then `AccessStore(..., lambda conn: index)`."""

    def __init__(self, site: str, bookings: Iterable[Booking] = ()) -> None:
        self._site = site
        self._by_id: dict[str, BookingView] = {}
        self._by_member: dict[str, tuple[BookingView, ...]] = {}
        self._by_plate: dict[str, tuple[BookingView, ...]] = {}
        self.rebuild(bookings)

    def rebuild(self, bookings: Iterable[Booking]) -> None:
        views = [view_of(b, self._site) for b in bookings]
        by_member: dict[str, list[BookingView]] = {}
        by_plate: dict[str, list[BookingView]] = {}
        for v in views:
            if v.member_id:
                by_member.setdefault(v.member_id, []).append(v)
            if v.plate:
                by_plate.setdefault(v.plate, []).append(v)
        self._by_id = {v.booking_id: v for v in views}
        self._by_member = {k: tuple(vs) for k, vs in by_member.items()}
        self._by_plate = {k: tuple(vs) for k, vs in by_plate.items()}

    def by_id(self, booking_id: str) -> BookingView | None:
        return self._by_id.get(booking_id)

    def for_member(self, member_id: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        return [v for v in self._by_member.get(member_id, ()) if v.start <= end and v.end >= start]

    def for_plate(self, plate: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        return [v for v in self._by_plate.get(plate, ()) if v.start <= end and v.end >= start]
