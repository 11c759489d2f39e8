"""Ed25519 signatures over RFC 8785 canonical JSON: cloud commands now, booking feeds next.

Signed bytes (also in docs/mqtt.md, "Signatures"):

    DOMAIN + topic.encode() + b"\\n" + JCS(message without its top-level "sig" member)

`JCS` is the JSON Canonicalization Scheme of RFC 8785 (the `rfc8785` package), so any stock
JCS library (Java, Go, JavaScript, .NET, Rust, Python) computes the same bytes. `DOMAIN`
says what kind of message is signed, so a signature is never valid as another kind:
`COMMAND_DOMAIN` for a command, `BOOKINGS_DOMAIN` for a booking snapshot or delta (the
access passes' domain is `edged.pass`, docs/passes.md). Binding the full topic means a
signature for one gateway or one command name is useless on another.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import rfc8785

from edge.access.errors import KeyConfigError
from edge.access.keys import KeyRing, KeyVerdict
from edge.config.model import AccessKey
from edge.uplink.errors import CommandRefused

if TYPE_CHECKING:  # imported by the callers that sign (tests, the simulator)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

COMMAND_DOMAIN = b"edge-cmd-v1\n"
BOOKINGS_DOMAIN = b"edge-bookings-v1\n"
"""Reserved for signed `bookings` / `bookings/delta` messages (same scheme, same keys)."""


class NotCanonical(ValueError):
    """The message holds a value RFC 8785 cannot represent, so it cannot be signed."""


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of the message without its top-level `sig` member.

    Raises NotCanonical for what I-JSON (RFC 7493, which JCS requires) excludes: integers
    beyond +-(2**53 - 1), NaN or infinite numbers, lone surrogates, non-string keys.
    """
    try:
        return rfc8785.dumps({k: v for k, v in obj.items() if k != "sig"})
    except rfc8785.IntegerDomainError as exc:
        raise NotCanonical(
            f"{exc}: RFC 8785 numbers are IEEE doubles; keep integers within +-(2**53 - 1) "
            "or send the value as a string"
        ) from exc
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:
        raise NotCanonical(f"not representable in RFC 8785 canonical JSON: {exc}") from exc
    except RecursionError as exc:  # only a hostile payload nests this deep
        raise NotCanonical("nested too deeply to canonicalise") from exc


def signed_bytes(topic: str, obj: Mapping[str, Any], domain: bytes = COMMAND_DOMAIN) -> bytes:
    """Exactly the bytes the Ed25519 signature covers."""
    return domain + topic.encode("utf-8") + b"\n" + canonical_json(obj)


def sign(
    topic: str,
    obj: Mapping[str, Any],
    key: Ed25519PrivateKey,
    kid: str,
    domain: bytes = COMMAND_DOMAIN,
) -> dict[str, Any]:
    """A copy of `obj` with a `sig` member (what the cloud emulator sends)."""
    value = base64.b64encode(key.sign(signed_bytes(topic, obj, domain))).decode("ascii")
    return {**obj, "sig": {"kid": kid, "alg": "ed25519", "value": value}}


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key, base64: the form `[uplink.signing.keys]` holds."""
    raw = key.public_key().public_bytes_raw()
    return base64.b64encode(raw).decode("ascii")


class Refusal(NamedTuple):
    """Why a message's signature is not accepted: `code` goes on the wire, `message` says
    what to fix."""

    code: str
    message: str


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

    @classmethod
    def of(cls, entries: Sequence[AccessKey], required: bool) -> Verifier:
        """From a config key list (`[[uplink.command_keys]]`, `[[uplink.booking_keys]]`)."""
        keys = {k.kid: k.public_key for k in entries}
        return cls(keys, required, {k.kid: k.not_after for k in entries if k.not_after})

    def refusal(
        self,
        topic: str,
        obj: Mapping[str, Any],
        now: datetime,
        domain: bytes = COMMAND_DOMAIN,
    ) -> Refusal | None:
        """None when `obj` may be acted on (validly signed, or unsigned while signatures are
        not required); otherwise why not. One check for every signed message kind."""
        sig = obj.get("sig")
        if sig is None:
            if self.required:
                return Refusal("signature_required", "this gateway only accepts signed messages")
            return None
        if not isinstance(sig, dict):
            return Refusal("bad_signature", "sig must be an object {kid, alg, value}")
        kid, value = sig.get("kid"), sig.get("value")
        if not isinstance(kid, str) or self._ring.get(kid) is None:
            return Refusal("unknown_key", f"no trusted key with kid {kid!r}")
        try:
            raw = base64.b64decode(value if isinstance(value, str) else "", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        try:
            message = signed_bytes(topic, obj, domain)
        except NotCanonical as exc:
            return Refusal("bad_signature", f"cannot check the signature: {exc}")
        verdict = self._ring.verify(kid, message, raw, now)
        if verdict is KeyVerdict.EXPIRED_KEY:
            return Refusal(
                "key_expired", f"key {kid!r} is past its not_after; sign with a current key"
            )
        if verdict is not KeyVerdict.OK:
            return Refusal(
                "bad_signature",
                "signature does not verify over the RFC 8785 canonical bytes (docs/mqtt.md)",
            )
        return None

    def check(self, topic: str, obj: Mapping[str, Any], now: datetime) -> None:
        """Raise CommandRefused unless the command carries a valid signature (when required)."""
        refused = self.refusal(topic, obj, now, COMMAND_DOMAIN)
        if refused is not None:
            raise CommandRefused(refused.code, refused.message)
