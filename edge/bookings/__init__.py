"""Bookings: the local store the rules engine reads, kept in sync with the cloud by version."""

from edge.bookings.model import Booking, BookingDelta, BookingSnapshot
from edge.bookings.store import BookingStore
from edge.bookings.sync import BookingSync

__all__ = ["Booking", "BookingDelta", "BookingSnapshot", "BookingStore", "BookingSync"]
