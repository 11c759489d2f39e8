"""Booking signatures checked with `[[uplink.booking_keys]]` (edge.bookings.auth says why).

Same construction and key ring as commands (edge.uplink.signing), with the domain
`BOOKINGS_DOMAIN` and the full topic `edge/v1/{site}/{gateway}/bookings` (or
`.../bookings/delta`), so a booking signature is never valid as a command, for another
gateway, or on the other booking topic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.bookings.auth import BookingAuth, Kind, Open
from edge.config.model import Uplink
from edge.uplink.signing import BOOKINGS_DOMAIN, Verifier

_SUBTOPIC: dict[Kind, str] = {"snapshot": "bookings", "delta": "bookings/delta"}


@dataclass(frozen=True, slots=True)
class SignedBookings:
    """`BookingAuth` with the configured booking keys: every message must be signed."""

    topic_root: str
    """`edge/v1/{site}/{gateway}/`: the signature binds the full topic."""
    verifier: Verifier
    max_version_jump: int

    @property
    def required(self) -> bool:
        return self.verifier.required

    def refusal(self, what: Kind, obj: Mapping[str, Any], now: datetime) -> tuple[str, str] | None:
        topic = self.topic_root + _SUBTOPIC[what]
        return self.verifier.refusal(topic, obj, now, BOOKINGS_DOMAIN)


def booking_auth(uplink: Uplink, topic_root: str) -> BookingAuth:
    """The policy of `[uplink]`: its `booking_keys` and `booking_max_version_jump`
    (no keys: `Open`, unsigned messages apply and a `sig` is not checked)."""
    if not uplink.booking_keys:
        return Open(uplink.booking_max_version_jump)
    verifier = Verifier.of(uplink.booking_keys, required=True)
    return SignedBookings(topic_root, verifier, uplink.booking_max_version_jump)


class CurrentBookingAuth:
    """`booking_auth` of the venue in force, rebuilt only when its `[uplink]` changes (keys
    rotate by a reload, without restarting anything). `source` returns (uplink, root)."""

    def __init__(self, source: Callable[[], tuple[Uplink, str]]) -> None:
        self._source = source
        self._for: tuple[Uplink, str] | None = None
        self._auth: BookingAuth | None = None

    def __call__(self) -> BookingAuth:
        uplink, root = self._source()
        if self._auth is None or self._for is None or self._for != (uplink, root):
            self._auth = booking_auth(uplink, root)
            self._for = (uplink, root)
        return self._auth
