"""Bookings: the local store the rules engine reads, kept in sync with the cloud by version.

A booking is `rules.model.Booking`; this package holds the messages that carry bookings,
the store and the sync.
"""

from edge.bookings.model import BookingDelta, BookingSnapshot
from edge.bookings.store import BookingsChanged, BookingStore
from edge.bookings.sync import BookingSync, SyncReport

__all__ = [
    "BookingDelta",
    "BookingSnapshot",
    "BookingStore",
    "BookingSync",
    "BookingsChanged",
    "SyncReport",
]
