"""The demo pass-issuer key pair, derived from a published seed.

`examples/venue.toml` trusts its public key (kid `demo-2026`) so that the cloud
emulator can sign QR passes in the demo. Anyone can derive the private key: it is
for the simulator only and must never be trusted by a real site.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DEMO_KID = "demo-2026"
_SEED = b"edge-sim demo pass key (public knowledge, never use in production)"


def demo_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(_SEED).digest())


def demo_public_key_b64() -> str:
    raw = demo_private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")
