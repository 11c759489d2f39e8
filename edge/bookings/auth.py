"""Who may change the bookings: a booking-key signature and a bound on version jumps.

The bookings decide who a gate opens for (a member id, a plate), so with booking keys
configured, publishing rights on the broker are not enough to change them:

- a snapshot or delta must be signed by one of `[[uplink.booking_keys]]` (the command
  signature scheme of docs/mqtt.md with the domain `edge-bookings-v1` and the topic
  `.../bookings` or `.../bookings/delta`; a key past its `not_after` is refused);
- its version may run at most `booking_max_version_jump` ahead of the stored one, so one
  message cannot push the version where no later update reaches it. Only a validly signed
  snapshot with `reset: true` may set any version (the way out of a bogus stored version).

This module holds the policy's shape; the signature check itself is the uplink's
(`edge.uplink.booking_auth`), so this package does not depend on the transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Literal, Protocol

Kind = Literal["snapshot", "delta"]
DEFAULT_MAX_VERSION_JUMP = 1_000_000


class Trust(Enum):
    """How far a booking message that passed the signature policy is trusted."""

    UNSIGNED = "unsigned"
    """No signature, and none required (no booking keys configured)."""
    SIGNED = "signed"
    """Validly signed by a current booking key (only this makes `reset` count)."""


class BookingAuth(Protocol):
    """The policy one booking message is judged by (built from the venue in force)."""

    @property
    def required(self) -> bool:
        """True when booking keys are configured: unsigned messages are refused."""
        ...

    @property
    def max_version_jump(self) -> int: ...

    def refusal(self, what: Kind, obj: Mapping[str, Any], now: datetime) -> tuple[str, str] | None:
        """None when `obj` (the decoded message, `sig` included) may be acted on;
        otherwise (code, message): `signature_required`, `unknown_key`, `key_expired`,
        `bad_signature`."""
        ...


class Open:
    """No booking keys: every message is taken as unsigned. A `sig` is not checked (there is
    no key to check it with) and so never makes `reset` count; ignoring it lets the cloud
    sign every feed before each gateway gets its keys (docs/security.md, provisioning)."""

    required = False

    def __init__(self, max_version_jump: int = DEFAULT_MAX_VERSION_JUMP) -> None:
        self.max_version_jump = max_version_jump

    def refusal(self, what: Kind, obj: Mapping[str, Any], now: datetime) -> tuple[str, str] | None:
        return None


OPEN = Open()
