"""The access event: what goes to the journal and upstream for every decision.

It carries ids and the outcome only: never the raw token, and member ids and plates
only as a keyed hash (`subject`), so the journal can correlate one person's attempts
without holding who they are.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec


class AccessEvent(msgspec.Struct, frozen=True, kw_only=True):
    ts: datetime
    reader: str
    gate: str
    kind: str
    """`qr`, `member` or `plate`."""
    granted: bool
    reason: str
    direction: str | None = None
    pass_id: str | None = None
    booking_id: str | None = None
    subject: str | None = None
    """Keyed hash of the member id or plate (`subject_ref`), for correlation only."""
    latency_ms: float = 0.0
    detail: str = ""
    zone: str | None = None
    """The zone the gate admits to (its first), for the journal and the cloud."""
    opened: bool | None = None
    """For a grant: whether the gate took the pulse."""


def subject_ref(prefix: str, value: str, salt: bytes) -> str:
    """`m:3f9a...` style reference: BLAKE2b keyed with the site's salt, 12 hex digits.

    Keyed because plates are few enough to be guessed by hashing them all.
    """
    digest = hashlib.blake2b(value.encode("utf-8"), key=salt[:64], digest_size=6)
    return f"{prefix}:{digest.hexdigest()}"
