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
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.errors import KeyConfigError
from edge.access.keys import KeyRing, KeyVerdict
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
    """Checks signatures with the configured keys (the access key ring: a key past its
    `not_after` is refused, so command keys rotate like pass keys)."""

    def __init__(
        self, keys: dict[str, str], required: bool, not_after: Mapping[str, str] | None = None
    ) -> None:
        self.required = required
        expiry = not_after or {}
        unknown = sorted(set(expiry) - set(keys))
        if unknown:
            raise ValueError(
                f"uplink.signing.not_after names keys that are not configured: {unknown}"
            )
        try:
            self._ring = KeyRing.from_mapping(
                {
                    kid: {"public_key": b64, "not_after": expiry.get(kid)}
                    for kid, b64 in keys.items()
                }
            )
        except KeyConfigError as exc:
            raise ValueError(
                f"uplink.signing.keys: {exc}; export keys with public_key_b64()"
            ) from exc

    def check(self, topic: str, obj: dict[str, Any], now: datetime) -> None:
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
        if not isinstance(kid, str) or self._ring.get(kid) is None:
            raise CommandRefused("unknown_key", f"no trusted key with kid {kid!r}")
        try:
            raw = base64.b64decode(value if isinstance(value, str) else "", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        verdict = self._ring.verify(kid, signed_bytes(topic, obj), raw, now)
        if verdict is KeyVerdict.EXPIRED_KEY:
            raise CommandRefused(
                "key_expired", f"key {kid!r} is past its not_after; sign with a current key"
            )
        if verdict is not KeyVerdict.OK:
            raise CommandRefused(
                "bad_signature", "signature does not verify over the canonical bytes"
            )
