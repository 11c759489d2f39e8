"""Pass encoding: round trip, the documented test vector, strict parsing, field validation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.access import MalformedPass, PassFieldError, issue_pass, parse_pass
from edge.access.passes import DOMAIN, MAX_TOKEN_CHARS, PassFields
from tests.access.helpers import KEY, KID, fields, mint

DOCS = Path(__file__).resolve().parents[2] / "docs" / "passes.md"

# The test vector published in docs/passes.md.
VECTOR_SEED = bytes(range(32))
VECTOR_PUBLIC = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
VECTOR_FIELDS = PassFields(
    pass_id="p-7Hq2kX9a",
    booking_id="b-20261121-0042",
    site="wcp-main",
    not_before=datetime(2026, 11, 21, 17, 45, tzinfo=UTC),
    expires=datetime(2026, 11, 21, 19, 15, tzinfo=UTC),
    entries=2,
    zones=("court-3",),
    gates=(),
)
VECTOR_TOKEN = (
    "AQZrMjAyNmEId2NwLW1haW4KcC03SHEya1g5YQ9iLTIwMjYxMTIxLTAwNDJrAdicawHttAIBB2NvdXJ0LTMA"
    "wLTJjaUEp9f2o2dQguRgZX6nupJwGwsjn-Nab4wFQ1QHMVrujwJTWSwzUKdP2OYyzpFWJF5SMJYK7-qHu_XqBg"
)


def test_round_trip_keeps_every_field() -> None:
    """A parsed pass carries exactly the fields it was issued with."""
    f = fields(gates=("gate-main",), zones=("court-3", "hall-a"), entries=0)
    parsed = parse_pass(issue_pass(KEY, KID, f))
    assert (parsed.kid, parsed.fields, parsed.version) == (KID, f, 1)


def test_test_vector_matches_docs() -> None:
    """The fixed key and fields give the documented token, and the docs quote it verbatim."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.access import public_key_b64

    key = Ed25519PrivateKey.from_private_bytes(VECTOR_SEED)
    assert public_key_b64(key) == VECTOR_PUBLIC
    assert issue_pass(key, "k2026a", VECTOR_FIELDS) == VECTOR_TOKEN
    assert parse_pass(VECTOR_TOKEN).fields == VECTOR_FIELDS
    doc = DOCS.read_text(encoding="utf-8").replace("\n", "")
    assert VECTOR_TOKEN in doc
    assert VECTOR_PUBLIC in doc


def test_vector_byte_layout() -> None:
    """The signed message is DOMAIN + body, and the token is body + 64-byte signature."""
    raw = base64.urlsafe_b64decode(VECTOR_TOKEN + "==")
    parsed = parse_pass(VECTOR_TOKEN)
    assert parsed.message == DOMAIN + raw[:-64]
    assert parsed.signature == raw[-64:]
    assert raw[0] == 1 and raw[1] == len("k2026a")


def test_realistic_pass_fits_a_small_qr_code() -> None:
    """A pass with short ids stays under 200 characters."""
    assert len(VECTOR_TOKEN) < 200


def test_uuid_ids_are_packed_to_16_bytes() -> None:
    """UUID-shaped ids travel as 16 raw bytes and come back as the same lowercase text."""
    pid, bid = "0b8f3c1e-6a2d-4f7e-9c41-2d5e8a7b9f00", "7d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
    token = mint(pass_id=pid, booking_id=bid)
    assert parse_pass(token).fields.pass_id == pid
    assert parse_pass(token).fields.booking_id == bid
    assert len(token) < len(mint(pass_id=pid.upper(), booking_id=bid.upper()))


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "empty"),
        ("A" * (MAX_TOKEN_CHARS + 1), "too_long"),
        ("abc def", "bad_charset"),
        ("abc=", "bad_charset"),
        ("abc+/", "bad_charset"),
        ("abcde", "bad_base64"),
        ("AB", "non_canonical"),
        ("AA", "too_short"),
        (b"\xff\xfe", "not_ascii"),
        (b"A" * (MAX_TOKEN_CHARS + 1), "too_long"),
    ],
)
def test_text_level_refusals(token: str | bytes, reason: str) -> None:
    """Bad token text is refused with a stable reason code."""
    with pytest.raises(MalformedPass) as exc:
        parse_pass(token)
    assert exc.value.reason == reason


def _resign(body: bytes) -> str:
    sig = KEY.sign(DOMAIN + body)
    return base64.urlsafe_b64encode(body + sig).rstrip(b"=").decode()


def _body(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))[:-64]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"\x02" + b[1:], "bad_version"),
        (lambda b: b[:1] + b"\x00" + b[2:], "bad_id"),
        (lambda b: b[:1] + b"\x41" + b[2:], "bad_id"),
        (lambda b: b[:2] + b"k!" + b[4:], "bad_id"),
        (lambda b: b + b"\x00", "trailing_bytes"),
        (lambda b: b[:-1] + b"\x11", "bad_count"),
        (lambda b: b[:-1], "truncated"),
    ],
)
def test_body_level_refusals(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    """A correctly signed but ill-formed body is refused with a stable reason code."""
    with pytest.raises(MalformedPass) as exc:
        parse_pass(_resign(mutate(_body(mint()))))
    assert exc.value.reason == reason


def test_inverted_window_and_empty_scope_refused_by_parser() -> None:
    """A signed body with expires <= not_before, or allowing nothing, is malformed."""
    body = bytearray(_body(mint()))
    at = body.index(b"\x02\x01\x07court-3")  # entries, zone count, zone
    inverted = bytes(body[: at - 8]) + bytes(8) + bytes(body[at:])
    with pytest.raises(MalformedPass) as exc:
        parse_pass(_resign(inverted))
    assert exc.value.reason == "bad_window"
    empty = bytes(body[: at + 1]) + b"\x00\x00"
    with pytest.raises(MalformedPass) as exc:
        parse_pass(_resign(empty))
    assert exc.value.reason == "no_scope"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pass_id": ""}, "pass_id"),
        ({"pass_id": "x" * 65}, "pass_id"),
        ({"site": "wcp main"}, "site"),
        ({"booking_id": "b/1"}, "booking_id"),
        ({"zones": (), "gates": ()}, "zones"),
        ({"zones": tuple(f"z{i}" for i in range(17))}, "zones"),
        ({"gates": ("ok", "not ok")}, "gates"),
        ({"entries": 256}, "entries"),
        ({"entries": -1}, "entries"),
        ({"not_before": datetime(2026, 1, 1)}, "not_before"),
        ({"expires": datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC)}, "expires"),
        ({"expires": datetime(1969, 1, 1, tzinfo=UTC)}, "expires"),
        ({"expires": datetime(2026, 11, 21, 17, 0, tzinfo=UTC)}, "expires"),
    ],
)
def test_issue_refuses_fields_the_format_cannot_carry(
    changes: dict[str, object], field: str
) -> None:
    """issue_pass names the offending field instead of minting a bad pass."""
    with pytest.raises(PassFieldError) as exc:
        issue_pass(KEY, KID, fields(**changes))
    assert exc.value.field == field


def test_issue_refuses_bad_kid() -> None:
    """A key id outside the id alphabet is refused."""
    with pytest.raises(PassFieldError) as exc:
        issue_pass(KEY, "k 1", fields())
    assert exc.value.field == "kid"


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True) | st.uuids().map(str)
seconds = st.integers(min_value=0, max_value=2**32 - 2)


@given(
    pass_id=ids,
    booking_id=ids,
    site=ids,
    nb=seconds,
    length=st.integers(min_value=1, max_value=10**7),
    entries=st.integers(min_value=0, max_value=255),
    zones=st.lists(ids, max_size=4).map(tuple),
    gates=st.lists(ids, min_size=1, max_size=4).map(tuple),
)
def test_round_trip_property(
    pass_id: str,
    booking_id: str,
    site: str,
    nb: int,
    length: int,
    entries: int,
    zones: tuple[str, ...],
    gates: tuple[str, ...],
) -> None:
    """Any representable pass survives issue -> parse unchanged."""
    f = PassFields(
        pass_id=pass_id,
        booking_id=booking_id,
        site=site,
        not_before=datetime.fromtimestamp(nb, UTC),
        expires=datetime.fromtimestamp(min(nb + length, 2**32 - 1), UTC),
        entries=entries,
        zones=zones,
        gates=gates,
    )
    assert parse_pass(issue_pass(KEY, KID, f)).fields == f


@given(st.text(max_size=600) | st.binary(max_size=600))
def test_garbage_only_raises_malformed_pass(data: str | bytes) -> None:
    """Random text or bytes either parse or raise MalformedPass, nothing else."""
    try:
        parse_pass(data)
    except MalformedPass as exc:
        assert exc.reason


@given(st.binary(min_size=0, max_size=400))
def test_random_base64url_bodies_only_raise_malformed_pass(raw: bytes) -> None:
    """Well-formed base64url of random bytes never raises anything but MalformedPass."""
    try:
        parse_pass(base64.urlsafe_b64encode(raw).rstrip(b"=").decode())
    except MalformedPass as exc:
        assert exc.reason


def test_expiry_is_exclusive_whole_seconds() -> None:
    """Times travel as whole UTC seconds."""
    f = parse_pass(mint()).fields
    assert f.expires - f.not_before == timedelta(hours=1, minutes=30)
