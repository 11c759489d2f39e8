"""Hypothesis: no mutation of a valid pass is ever granted; no input escapes as an exception."""

from __future__ import annotations

import base64

from hypothesis import assume, given
from hypothesis import strategies as st

from edge.access import (
    Decision,
    MemberCredential,
    PlateCredential,
    QrCredential,
    Reason,
    credential_from_line,
    decide,
)
from edge.access.credentials import CredentialKind
from tests.access.helpers import NOW, context, mint

TOKEN = mint(entries=0, zones=("court-3", "hall-a"), gates=("gate-main",))
RAW = base64.urlsafe_b64decode(TOKEN + "=" * (-len(TOKEN) % 4))
CTX = context()


def _decide(token: str | bytes) -> Decision:
    return decide(QrCredential(token), "gate-main", NOW, CTX)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_original_is_granted() -> None:
    """The unmutated pass is granted in this context (so refusals below mean something)."""
    assert _decide(TOKEN).reason is Reason.GRANTED


@given(st.lists(st.integers(min_value=0, max_value=len(RAW) * 8 - 1), min_size=1, max_size=8))
def test_bit_flips_never_granted(bits: list[int]) -> None:
    """Flipping any set of bits in the decoded pass is never granted."""
    data = bytearray(RAW)
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    assume(bytes(data) != RAW)
    assert not _decide(_b64(bytes(data))).granted


@given(st.integers(min_value=0, max_value=len(RAW) - 1))
def test_truncation_never_granted(length: int) -> None:
    """Any truncation of the pass bytes is refused."""
    assert not _decide(_b64(RAW[:length])).granted


@given(st.binary(min_size=1, max_size=64), st.booleans())
def test_extension_never_granted(extra: bytes, at_end: bool) -> None:
    """Bytes appended or prepended are refused."""
    data = RAW + extra if at_end else extra + RAW
    assert not _decide(_b64(data)).granted


@given(st.integers(min_value=0, max_value=len(RAW)), st.binary(min_size=1, max_size=16))
def test_insertion_and_splice_never_granted(at: int, chunk: bytes) -> None:
    """Bytes inserted or overwritten anywhere are refused."""
    inserted = RAW[:at] + chunk + RAW[at:]
    overwritten = RAW[:at] + chunk + RAW[at + len(chunk) :]
    assert not _decide(_b64(inserted)).granted
    assume(overwritten != RAW)
    assert not _decide(_b64(overwritten)).granted


@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_never_granted(data: bytes) -> None:
    """Random bytes, base64url-encoded, are never granted."""
    assert not _decide(_b64(data)).granted


@given(
    st.sampled_from(["pad", "std", "upper", "lower", "space", "lastbits", "crlf_inside", "utf16"])
)
def test_re_encodings_are_malformed(how: str) -> None:
    """Other spellings of the same bytes (padding, '+/', case, bits, encodings) are refused."""
    if how == "pad":
        token: str | bytes = base64.urlsafe_b64encode(RAW).decode()
        assume(token != TOKEN)
    elif how == "std":
        token = base64.b64encode(RAW).decode().rstrip("=")
        assume(token != TOKEN)
    elif how == "upper":
        token = TOKEN.upper()
    elif how == "lower":
        token = TOKEN.lower()
    elif how == "space":
        token = TOKEN[:40] + " " + TOKEN[40:]
    elif how == "lastbits":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        token = TOKEN[:-1] + alphabet[alphabet.index(TOKEN[-1]) | 1]
        assume(token != TOKEN)
    elif how == "crlf_inside":
        token = TOKEN[:20] + "\r\n" + TOKEN[20:]
    else:
        token = TOKEN.encode("utf-16")
    d = _decide(token)
    assert not d.granted
    if how not in ("upper", "lower"):  # a case change decodes to other bytes: any refusal
        assert d.reason is Reason.MALFORMED


@given(st.text(max_size=40).filter(lambda t: t != TOKEN), st.integers(0, len(TOKEN)))
def test_text_edits_never_granted(insert: str, at: int) -> None:
    """Arbitrary text inserted into the token is refused."""
    token = TOKEN[:at] + insert + TOKEN[at:]
    assume(token != TOKEN)
    assert not _decide(token).granted


@given(st.binary(max_size=5000), st.sampled_from(list(CredentialKind)))
def test_any_line_gives_a_decision_never_an_exception(line: bytes, kind: CredentialKind) -> None:
    """Garbage, oversized or wrongly encoded lines from any reader are decided, not raised."""
    d = decide(credential_from_line(kind, line), "gate-main", NOW, CTX)
    assert isinstance(d.reason, Reason)
    if kind is CredentialKind.QR:
        assert not d.granted


@given(st.text(max_size=80))
def test_member_and_plate_text_never_raise(text: str) -> None:
    """Any member-id or plate text is decided deterministically."""
    for cred in (MemberCredential(text), PlateCredential(text)):
        first = decide(cred, "gate-main", NOW, CTX)
        assert first == decide(cred, "gate-main", NOW, CTX)


@given(st.binary(max_size=300))
def test_decisions_are_deterministic(data: bytes) -> None:
    """The same (credential, gate, now, context) always gives the same decision."""
    token = _b64(data)
    assert _decide(token) == _decide(token)
