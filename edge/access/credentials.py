"""What a reader hands in: a QR token, a member id (face/card terminal) or a licence plate.

Credentials keep the raw text; `decide` validates it, so bad input becomes a
`malformed` decision with a record rather than an exception somewhere upstream.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

MEMBER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_PLATE_SEPARATORS = str.maketrans("", "", " \t-.·•_")


class CredentialKind(StrEnum):
    QR = "qr"
    MEMBER = "member"
    PLATE = "plate"


@dataclass(frozen=True)
class QrCredential:
    token: str | bytes
    kind: CredentialKind = CredentialKind.QR


@dataclass(frozen=True)
class MemberCredential:
    member_id: str
    kind: CredentialKind = CredentialKind.MEMBER


@dataclass(frozen=True)
class PlateCredential:
    plate: str
    kind: CredentialKind = CredentialKind.PLATE


Credential = QrCredential | MemberCredential | PlateCredential


def credential_from_line(kind: CredentialKind, line: bytes) -> Credential:
    """One text line from a serial reader (terminator and padding stripped)."""
    stripped = line.strip(b" \t\r\n\x00")
    if kind is CredentialKind.QR:
        return QrCredential(stripped)
    text = stripped.decode("utf-8", errors="replace")
    if kind is CredentialKind.MEMBER:
        return MemberCredential(text)
    return PlateCredential(text)


def valid_member_id(member_id: str) -> bool:
    return isinstance(member_id, str) and MEMBER_ID.fullmatch(member_id) is not None


def normalise_plate(text: str) -> str | None:
    """Canonical plate text (`京A·12345` -> `京A12345`), or None when it is not a plate."""
    if not isinstance(text, str) or len(text) > 32:
        return None
    plate = unicodedata.normalize("NFKC", text).upper().translate(_PLATE_SEPARATORS)
    if not 2 <= len(plate) <= 16 or not all(ch.isalnum() for ch in plate):
        return None
    return plate
