"""Who may change the bookings: a booking-key signature and a bound on version jumps.

The bookings decide who a gate opens for (a member id, a plate), so with booking keys
configured, publishing rights on the broker are not enough to change them:

- a snapshot or delta must be signed by one of `[[uplink.booking_keys]]` (the command
  signature scheme of docs/mqtt.md with the domain `BOOKINGS_DOMAIN` and the topic
  `.../bookings` or `.../bookings/delta`; a key past its `not_after` is refused);
- its version may run at most `booking_max_version_jump` ahead of the stored one, so one
  message cannot push the version where no later update reaches it. Only a validly signed
  snapshot with `reset: true` may set any version (the way out of a bogus stored version).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from edge.config.model import Uplink
from edge.uplink.signing import BOOKINGS_DOMAIN, Refusal, Verifier

Kind = Literal["snapshot", "delta"]
DEFAULT_MAX_VERSION_JUMP = 1_000_000
_SUBTOPIC: dict[Kind, str] = {"snapshot": "bookings", "delta": "bookings/delta"}


class Trust(Enum):
    """How far a booking message that passed the signature policy is trusted."""

    UNSIGNED = "unsigned"
    """No signature, and none required (no booking keys configured)."""
    SIGNED = "signed"
    """Validly signed by a current booking key (only this makes `reset` count)."""


@dataclass(frozen=True, slots=True)
class BookingAuth:
    """The policy one booking message is judged by (built from the venue in force)."""

    topic_root: str
    """`edge/v1/{site}/{gateway}/`: the signature binds the full topic."""
    verifier: Verifier
    max_version_jump: int = DEFAULT_MAX_VERSION_JUMP

    @property
    def required(self) -> bool:
        return self.verifier.required

    def refusal(self, what: Kind, obj: Mapping[str, Any], now: datetime) -> Refusal | None:
        """None when `obj` may be acted on; otherwise why not (code and message)."""
        topic = self.topic_root + _SUBTOPIC[what]
        return self.verifier.refusal(topic, obj, now, BOOKINGS_DOMAIN)


OPEN = BookingAuth("", Verifier({}, required=False))
"""No booking keys: unsigned messages apply (a signed one is still checked, and fails)."""


def booking_auth(uplink: Uplink, topic_root: str) -> BookingAuth:
    """The policy of `[uplink]`: its `booking_keys` and `booking_max_version_jump`."""
    keys = {k.kid: k.public_key for k in uplink.booking_keys}
    not_after = {k.kid: k.not_after for k in uplink.booking_keys if k.not_after}
    verifier = Verifier(keys, required=bool(keys), not_after=not_after)
    return BookingAuth(topic_root, verifier, uplink.booking_max_version_jump)


class CurrentBookingAuth:
    """`booking_auth` of the venue in force, rebuilt only when its `[uplink]` changes (keys
    rotate by a reload, without restarting anything). `source` returns (uplink, root)."""

    def __init__(self, source: Callable[[], tuple[Uplink, str]]) -> None:
        self._source = source
        self._for: tuple[object, str] | None = None
        self._auth = OPEN

    def __call__(self) -> BookingAuth:
        uplink, root = self._source()
        if self._for is None or self._for[0] is not uplink or self._for[1] != root:
            self._auth = booking_auth(uplink, root)
            self._for = (uplink, root)
        return self._auth
