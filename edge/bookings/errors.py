"""Booking errors."""

from __future__ import annotations


class BookingRejected(Exception):
    """A snapshot or delta was refused as a whole; `problems` lists (booking_id, reason)."""

    def __init__(self, version: int, problems: list[tuple[str, str]]) -> None:
        shown = "; ".join(f"{bid}: {why}" for bid, why in problems[:5])
        super().__init__(f"bookings version {version} refused: {shown}")
        self.version = version
        self.problems = problems
