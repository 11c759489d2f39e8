"""Access events: ids and outcome only, never raw tokens, member ids or plates."""

from __future__ import annotations

import msgspec

from edge.access import (
    AccessEvent,
    MemberCredential,
    PlateCredential,
    QrCredential,
    decide,
    subject_ref,
)
from edge.access.outcome import access_event
from tests.access.helpers import NOW, context, mint

SALT = b"site-secret-salt"


def _event(cred, gate: str = "gate-main") -> AccessEvent:  # type: ignore[no-untyped-def]
    d = decide(cred, gate, NOW, context())
    return access_event(d, cred, reader="qr-1", ts=NOW, latency_ms=1.23456, salt=SALT)


def test_pass_event_has_ids_not_token() -> None:
    """A pass event carries pass/booking ids and reason; the encoded event lacks the token."""
    token = mint()
    event = _event(QrCredential(token))
    wire = msgspec.json.encode(event).decode()
    assert (event.pass_id, event.booking_id, event.reason, event.granted) == (
        "p-1",
        "b-1",
        "granted",
        True,
    )
    assert event.latency_ms == 1.235
    assert token not in wire and token[:40] not in wire


def test_member_and_plate_are_hashed() -> None:
    """Member ids and plates appear only as keyed hashes."""
    m = _event(MemberCredential("m-42"))
    p = _event(PlateCredential("京A 12345"), gate="barrier")
    assert m.subject == subject_ref("m", "m-42", SALT)
    assert p.subject == subject_ref("p", "京A12345", SALT)
    wire = msgspec.json.encode([m, p]).decode()
    assert "m-42" not in wire and "12345" not in wire


def test_subject_ref_is_keyed() -> None:
    """The same value under another salt gives another reference (no global dictionary)."""
    assert subject_ref("p", "AB12CDE", b"a") != subject_ref("p", "AB12CDE", b"b")
    assert subject_ref("p", "AB12CDE", b"a").startswith("p:")


def test_malformed_input_gives_no_subject() -> None:
    """Unreadable member text is not hashed or echoed."""
    assert _event(MemberCredential("bad id!")).subject is None


def test_event_round_trips_through_json() -> None:
    """The event decodes back to an equal struct (it is the upstream payload)."""
    event = _event(QrCredential(mint()))
    assert msgspec.json.decode(msgspec.json.encode(event), type=AccessEvent) == event
