"""Issuer key ring: config decoding, rotation, expired and unknown keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from edge.access import KeyConfigError, KeyRing, parse_pass, public_key_b64
from edge.access.keys import KeyVerdict
from tests.access.helpers import KEY, KID, NOW, OTHER_KEY, mint


@dataclass(frozen=True)
class Entry:
    """Same shape as edge.config's AccessKey."""

    kid: str
    public_key: str
    not_after: str | None = None


def _verdict(ring: KeyRing, token: str, at=NOW) -> KeyVerdict:  # type: ignore[no-untyped-def]
    p = parse_pass(token)
    return ring.verify(p.kid, p.message, p.signature, at)


def test_from_config_entries_verifies_passes() -> None:
    """A ring built from config entries verifies a pass signed by the matching key."""
    ring = KeyRing.from_config([Entry(KID, public_key_b64(KEY))])
    assert _verdict(ring, mint()) is KeyVerdict.OK


def test_rotation_both_keys_verify_until_old_key_expires() -> None:
    """During rotation both kids verify; after not_after the old kid is expired_key."""
    cutoff = (NOW + timedelta(days=1)).isoformat()
    ring = KeyRing.from_mapping(
        {
            KID: {"public_key": public_key_b64(KEY), "not_after": cutoff},
            "k2026b": public_key_b64(OTHER_KEY),
        }
    )
    old, new = mint(), mint(key=OTHER_KEY, kid="k2026b")
    assert (_verdict(ring, old), _verdict(ring, new)) == (KeyVerdict.OK, KeyVerdict.OK)
    later = NOW + timedelta(days=2)
    assert _verdict(ring, old, later) is KeyVerdict.EXPIRED_KEY
    assert _verdict(ring, new, later) is KeyVerdict.OK


def test_unknown_kid_and_wrong_key() -> None:
    """A kid not in the ring is unknown_key; a pass signed by another key is bad_signature."""
    ring = KeyRing.from_mapping({KID: public_key_b64(KEY)})
    assert _verdict(ring, mint(kid="k-nope")) is KeyVerdict.UNKNOWN_KEY
    assert _verdict(ring, mint(key=OTHER_KEY)) is KeyVerdict.BAD_SIGNATURE


def test_url_safe_and_unpadded_key_text_accepted() -> None:
    """Public keys may be given in the url-safe alphabet without padding."""
    text = public_key_b64(KEY).replace("+", "-").replace("/", "_").rstrip("=")
    assert _verdict(KeyRing.from_mapping({KID: text}), mint()) is KeyVerdict.OK


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("not base64 !!", "not base64"),
        ("AAAA", "32 raw bytes"),
        ({"not_after": "2027-01-01T00:00:00Z"}, "missing public_key"),
        (
            {"public_key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", "not_after": "soon"},
            "ISO",
        ),
        (
            {
                "public_key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
                "not_after": "2027-01-01",
            },
            "timezone",
        ),
    ],
)
def test_bad_key_config_names_kid_and_problem(value: object, needle: str) -> None:
    """Unusable key config raises KeyConfigError naming the kid and what to fix."""
    with pytest.raises(KeyConfigError) as exc:
        KeyRing.from_mapping({"k-bad": value})  # type: ignore[dict-item]
    assert exc.value.kid == "k-bad"
    assert needle in str(exc.value)


def test_duplicate_kid_refused() -> None:
    """Two config entries with one kid are refused."""
    with pytest.raises(KeyConfigError, match="duplicate"):
        KeyRing.from_config(
            [Entry(KID, public_key_b64(KEY)), Entry(KID, public_key_b64(OTHER_KEY))]
        )
