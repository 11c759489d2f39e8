"""The signed pass: a fixed binary layout, Ed25519-signed, base64url text for a QR code.

Why a hand-made layout rather than msgpack/CBOR: every field has exactly one encoding,
so a pass has exactly one byte string and one token text (parsing rejects any other),
and a backend in any language can build it with a few lines (docs/passes.md).
Parsing never verifies: `KeyRing.verify` does, with the issuer key named by `kid`.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from edge.access.errors import MalformedPass, PassFieldError

if TYPE_CHECKING:  # imported by the callers that sign (tests, the simulator)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

VERSION = 1
DOMAIN = b"edged.pass"
"""Prefixed to the body before signing, so a pass signature is never valid as anything else."""
SIGNATURE_LEN = 64
MAX_ID_LEN = 64
UUID_TAG = 0x80
"""An id length byte of 0x80 means: 16 raw bytes of a UUID, read as its lowercase text form."""
MAX_SCOPE = 16
MAX_TOKEN_CHARS = 512
MAX_U32 = 2**32 - 1

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_MIN_BODY = 1 + 4 * 2 + 4 + 4 + 1 + 1 + 1


@dataclass(frozen=True)
class PassFields:
    """What a pass grants. Times are timezone-aware, whole seconds, UTC on the wire."""

    pass_id: str
    booking_id: str
    site: str
    not_before: datetime
    expires: datetime
    """First instant the pass is no longer valid (exclusive)."""
    entries: int = 1
    """Entries allowed, 1..255; 0 means unlimited (season passes)."""
    zones: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignedPass:
    """A decoded, not yet verified pass."""

    version: int
    kid: str
    fields: PassFields
    message: bytes
    """The exact bytes the signature covers (DOMAIN + body)."""
    signature: bytes


def issue_pass(private_key: Ed25519PrivateKey, kid: str, fields: PassFields) -> str:
    """Encode and sign `fields`; returns the token text for the QR code."""
    body = _encode_body(kid, fields)
    signature = private_key.sign(DOMAIN + body)
    token = _b64(body + signature)
    if len(token) > MAX_TOKEN_CHARS:
        raise PassFieldError("*", f"token is {len(token)} chars, over {MAX_TOKEN_CHARS}")
    return token


def parse_pass(token: str | bytes) -> SignedPass:
    """Decode a token strictly (one canonical text per pass); raises MalformedPass."""
    text = _ascii(token)
    raw = _unb64(text)
    if len(raw) < _MIN_BODY + SIGNATURE_LEN:
        raise MalformedPass("too_short", f"{len(raw)} bytes")
    body, signature = raw[:-SIGNATURE_LEN], raw[-SIGNATURE_LEN:]
    kid, fields = _decode_body(body)
    return SignedPass(
        version=VERSION, kid=kid, fields=fields, message=DOMAIN + body, signature=signature
    )


# --- text ----------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _ascii(token: str | bytes) -> str:
    if isinstance(token, bytes | bytearray | memoryview):
        if len(token) > MAX_TOKEN_CHARS:
            raise MalformedPass("too_long", f"{len(token)} bytes, limit {MAX_TOKEN_CHARS}")
        try:
            return bytes(token).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedPass("not_ascii", "token must be base64url text") from None
    if not isinstance(token, str):
        raise MalformedPass("wrong_type", type(token).__name__)
    return token


def _unb64(text: str) -> bytes:
    if not text:
        raise MalformedPass("empty")
    if len(text) > MAX_TOKEN_CHARS:
        raise MalformedPass("too_long", f"{len(text)} chars, limit {MAX_TOKEN_CHARS}")
    if not _B64URL.fullmatch(text):
        raise MalformedPass("bad_charset", "token must be unpadded base64url (A-Z a-z 0-9 - _)")
    if len(text) % 4 == 1:
        raise MalformedPass("bad_base64", "impossible length")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        # Unused low bits set in the last character: another spelling of the same bytes.
        raise MalformedPass("non_canonical", "base64url with unused bits set")
    return raw


# --- body ----------------------------------------------------------------------------


def _check_id(field: str, value: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LEN:
        raise PassFieldError(field, f"must be a string of 1..{MAX_ID_LEN} characters")
    if not _ID.fullmatch(value):
        raise PassFieldError(field, "use letters, digits and _ . : - (starting alphanumeric)")


def _encode_id(value: str) -> bytes:
    if _UUID.fullmatch(value):
        return bytes([UUID_TAG]) + uuid.UUID(value).bytes
    data = value.encode("ascii")
    return bytes([len(data)]) + data


def _seconds(field: str, value: datetime) -> int:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise PassFieldError(field, "must be a timezone-aware datetime")
    if value.microsecond:
        raise PassFieldError(field, "must be whole seconds")
    seconds = int(value.timestamp())
    if not 0 <= seconds <= MAX_U32:
        raise PassFieldError(field, "must be between 1970 and 2106")
    return seconds


def _encode_body(kid: str, f: PassFields) -> bytes:
    _check_id("kid", kid)
    for name in ("site", "pass_id", "booking_id"):
        _check_id(name, getattr(f, name))
    for name in ("zones", "gates"):
        items = getattr(f, name)
        if not isinstance(items, tuple | list) or len(items) > MAX_SCOPE:
            raise PassFieldError(name, f"must be a sequence of at most {MAX_SCOPE} ids")
        for item in items:
            _check_id(name, item)
    if not f.zones and not f.gates:
        raise PassFieldError("zones", "a pass must allow at least one zone or gate")
    not_before = _seconds("not_before", f.not_before)
    expires = _seconds("expires", f.expires)
    if expires <= not_before:
        raise PassFieldError("expires", "must be after not_before")
    if not isinstance(f.entries, int) or not 0 <= f.entries <= 255:
        raise PassFieldError("entries", "must be 0 (unlimited) .. 255")
    out = bytearray([VERSION])
    for value in (kid, f.site, f.pass_id, f.booking_id):
        out += _encode_id(value)
    out += struct.pack(">IIB", not_before, expires, f.entries)
    for items in (f.zones, f.gates):
        out.append(len(items))
        for item in items:
            out += _encode_id(item)
    return bytes(out)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise MalformedPass("truncated", f"ends inside {what}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        value: int = struct.unpack(">I", self.take(4, what))[0]
        return value

    def ident(self, what: str) -> str:
        n = self.u8(what)
        if n == UUID_TAG:
            return str(uuid.UUID(bytes=self.take(16, what)))
        if not 1 <= n <= MAX_ID_LEN:
            raise MalformedPass("bad_id", f"{what} length {n}")
        text = self.take(n, what).decode("ascii", errors="replace")
        if not _ID.fullmatch(text):
            raise MalformedPass("bad_id", f"{what} has characters outside the id alphabet")
        return text

    @property
    def rest(self) -> int:
        return len(self._data) - self._pos


def _decode_body(body: bytes) -> tuple[str, PassFields]:
    cur = _Cursor(body)
    version = cur.u8("version")
    if version != VERSION:
        raise MalformedPass("bad_version", f"version {version}, this build reads {VERSION}")
    kid = cur.ident("kid")
    site = cur.ident("site")
    pass_id = cur.ident("pass_id")
    booking_id = cur.ident("booking_id")
    not_before = cur.u32("not_before")
    expires = cur.u32("expires")
    entries = cur.u8("entries")
    scopes: list[tuple[str, ...]] = []
    for what in ("zones", "gates"):
        count = cur.u8(what)
        if count > MAX_SCOPE:
            raise MalformedPass("bad_count", f"{count} {what}, limit {MAX_SCOPE}")
        scopes.append(tuple(cur.ident(what) for _ in range(count)))
    if cur.rest:
        raise MalformedPass("trailing_bytes", f"{cur.rest} bytes after the body")
    if not scopes[0] and not scopes[1]:
        raise MalformedPass("no_scope", "allows no zone and no gate")
    if expires <= not_before:
        raise MalformedPass("bad_window", "expires is not after not_before")
    fields = PassFields(
        pass_id=pass_id,
        booking_id=booking_id,
        site=site,
        not_before=datetime.fromtimestamp(not_before, UTC),
        expires=datetime.fromtimestamp(expires, UTC),
        entries=entries,
        zones=scopes[0],
        gates=scopes[1],
    )
    return kid, fields
