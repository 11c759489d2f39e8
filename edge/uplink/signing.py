"""Ed25519 command signatures: the canonical bytes, signing (for the cloud side) and checking.

Signed bytes (also in docs/mqtt.md):

    b"edge-cmd-v1\\n" + topic.encode() + b"\\n" + canonical_json(payload without "sig")

`canonical_json` is the command object re-encoded with keys sorted by code point, no
whitespace, UTF-8, strings escaped minimally, numbers in shortest round-trip form. Binding
the full topic means a signature for one gateway or one command name is useless on another.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.uplink.errors import CommandRefused

DOMAIN = b"edge-cmd-v1\n"
_canonical = msgspec.json.Encoder(order="sorted")


def canonical_json(obj: dict[str, Any]) -> bytes:
    """The command object without `sig`, keys sorted, compact."""
    return _canonical.encode({k: v for k, v in obj.items() if k != "sig"})


def signed_bytes(topic: str, obj: dict[str, Any]) -> bytes:
    return DOMAIN + topic.encode("utf-8") + b"\n" + canonical_json(obj)


def sign(topic: str, obj: dict[str, Any], key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    """A copy of `obj` with a `sig` member (what the cloud emulator sends)."""
    value = base64.b64encode(key.sign(signed_bytes(topic, obj))).decode("ascii")
    return {**obj, "sig": {"kid": kid, "alg": "ed25519", "value": value}}


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key, base64: the form `[uplink.signing.keys]` holds."""
    raw = key.public_key().public_bytes_raw()
    return base64.b64encode(raw).decode("ascii")


class Verifier:
    """Checks signatures with the configured keys; decides once at construction."""

    def __init__(self, keys: dict[str, str], required: bool) -> None:
        self.required = required
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, b64 in keys.items():
            try:
                raw = base64.b64decode(b64, validate=True)
                self._keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(
                    f"uplink.signing.keys.{kid}: not a base64 raw 32-byte Ed25519 public key "
                    f"({exc}); export it with public_key_b64()"
                ) from exc

    def check(self, topic: str, obj: dict[str, Any]) -> None:
        """Raise CommandRefused unless the command carries a valid signature (when required)."""
        sig = obj.get("sig")
        if sig is None:
            if self.required:
                raise CommandRefused(
                    "signature_required", "this gateway only accepts signed commands"
                )
            return
        if not isinstance(sig, dict):
            raise CommandRefused("bad_signature", "sig must be an object {kid, alg, value}")
        kid, value = sig.get("kid"), sig.get("value")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise CommandRefused("unknown_key", f"no trusted key with kid {kid!r}")
        try:
            raw = base64.b64decode(value if isinstance(value, str) else "", validate=True)
            key.verify(raw, signed_bytes(topic, obj))
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise CommandRefused(
                "bad_signature", "signature does not verify over the canonical bytes"
            ) from exc
