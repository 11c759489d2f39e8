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
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.access.errors import KeyConfigError


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


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    public_key: Ed25519PublicKey
    not_after: datetime | None = None
    """Passes naming this key are refused from this instant on."""

    def usable_at(self, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after

    def verify(self, message: bytes, signature: bytes) -> bool:
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


def load_public_key(kid: str, text: str) -> Ed25519PublicKey:
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
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The config form of a key's public half (standard base64 of the 32 raw bytes)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


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
