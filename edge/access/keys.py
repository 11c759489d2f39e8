"""Issuer public keys by key id, so keys rotate without downtime.

Rotation: add the new key to the config (both verify), switch the issuer to it, then
give the old key a `not_after` later than the last pass it signed; after that instant
passes naming the old key are refused with `expired_key`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from edge.access.errors import KeyConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


class KeyVerdict(StrEnum):
    OK = "ok"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_KEY = "expired_key"
    BAD_SIGNATURE = "bad_signature"


class KeyEntry(Protocol):
    """The shape of a config entry (edge.config's `AccessKey` has it)."""

    @property
    def kid(self) -> str: ...
    @property
    def public_key(self) -> str: ...
    @property
    def not_after(self) -> str | None: ...


class RawPublicKey:
    """A configured Ed25519 public key as its 32 raw bytes. `cryptography` (about 8 MiB of
    RSS) is imported at the first verification, not when the configuration is read: a venue
    that never checks a signature never loads it."""

    __slots__ = ("_key", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._key: Ed25519PublicKey | None = None

    def verify(self, signature: bytes, data: bytes) -> None:
        """As `Ed25519PublicKey.verify`: raises `InvalidSignature` when it does not verify."""
        if self._key is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            self._key = Ed25519PublicKey.from_public_bytes(self.raw)
        self._key.verify(signature, data)

    def public_bytes_raw(self) -> bytes:
        return self.raw


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    public_key: Ed25519PublicKey | RawPublicKey
    not_after: datetime | None = None
    """Passes naming this key are refused from this instant on."""

    def usable_at(self, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after

    def verify(self, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class KeyRing:
    """Immutable set of issuer keys; a config reload builds a new ring."""

    def __init__(self, keys: Iterable[IssuerKey] = ()) -> None:
        self._keys: dict[str, IssuerKey] = {}
        for key in keys:
            if key.kid in self._keys:
                raise KeyConfigError(key.kid, "duplicate key id: give each key its own kid")
            self._keys[key.kid] = key

    @classmethod
    def from_config(cls, entries: Iterable[KeyEntry]) -> KeyRing:
        """From config entries with `kid`, base64 `public_key`, ISO-8601 `not_after`."""
        return cls(
            IssuerKey(e.kid, load_public_key(e.kid, e.public_key), _instant(e.kid, e.not_after))
            for e in entries
        )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Mapping[str, str | None]]) -> KeyRing:
        """From `{kid: "base64"}` or `{kid: {"public_key": ..., "not_after": ...}}`."""
        keys = []
        for kid, value in mapping.items():
            if isinstance(value, str):
                keys.append(IssuerKey(kid, load_public_key(kid, value)))
                continue
            public = value.get("public_key")
            if not isinstance(public, str):
                raise KeyConfigError(kid, "missing public_key (base64 of 32 bytes)")
            keys.append(
                IssuerKey(kid, load_public_key(kid, public), _instant(kid, value.get("not_after")))
            )
        return cls(keys)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def get(self, kid: str) -> IssuerKey | None:
        return self._keys.get(kid)

    def verify(self, kid: str, message: bytes, signature: bytes, now: datetime) -> KeyVerdict:
        key = self._keys.get(kid)
        if key is None:
            return KeyVerdict.UNKNOWN_KEY
        if not key.usable_at(now):
            return KeyVerdict.EXPIRED_KEY
        return KeyVerdict.OK if key.verify(message, signature) else KeyVerdict.BAD_SIGNATURE


def load_public_key(kid: str, text: str) -> RawPublicKey:
    """A raw 32-byte Ed25519 public key in base64 (standard or url alphabet, padding optional)."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(kid, "public_key is not base64") from None
    if len(raw) != 32:
        raise KeyConfigError(
            kid, f"public_key decodes to {len(raw)} bytes; an Ed25519 key is 32 raw bytes"
        )
    return RawPublicKey(raw)


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey | RawPublicKey) -> str:
    """The config form of a key's public half (standard base64 of the 32 raw bytes)."""
    public = key if isinstance(key, RawPublicKey) else _public_half(key)
    return base64.b64encode(public.public_bytes_raw()).decode("ascii")


def _public_half(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def _instant(kid: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise KeyConfigError(kid, f"not_after {text!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise KeyConfigError(kid, "not_after needs a timezone, e.g. 2027-01-01T00:00:00Z")
    return value


def key_problem(entry: KeyEntry) -> str | None:
    """Why a config key entry is unusable (bad base64, wrong length, bad `not_after`), or None."""
    try:
        load_public_key(entry.kid, entry.public_key)
        _instant(entry.kid, entry.not_after)
    except KeyConfigError as exc:
        return str(exc)
    return None
