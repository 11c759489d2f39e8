"""The simulated cloud's keys, made for each run: pass issuer, command and booking signers.

A real site's config trusts its backend's public keys; the simulator's runtime copy of a
venue config trusts these instead (`SimVenue.runtime_data`), so the demo can sign passes,
commands and bookings. Nothing here is published: a new run has new keys, and edged never
trusts a key anyone could derive.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode("ascii")


@dataclass(frozen=True)
class SimKeys:
    passes: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    commands: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    bookings: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    pass_kid: str = "sim-passes"
    command_kid: str = "sim-cloud"
    booking_kid: str = "sim-bookings"

    def entry(self, kid: str, key: Ed25519PrivateKey) -> dict[str, str]:
        """A `[[...keys]]` table for the runtime config."""
        return {"kid": kid, "public_key": public_b64(key)}
