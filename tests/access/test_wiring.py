"""From the venue config and the booking store to decisions (real config loader, real SQLite)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec

from edge.access import SCHEMA, AccessStore, CredentialKind, QrCredential, Reason, public_key_b64
from edge.access.booking_index import BookingIndex
from edge.access.context import Direction
from edge.access.credentials import MemberCredential, PlateCredential
from edge.access.from_config import readers, site_access, with_descendants
from edge.bookings import BookingStore
from edge.config.load import load
from edge.config.model import AccessKey
from edge.storage import Database
from rules.model import Booking
from tests.access.helpers import END, KEY, KID, NOW, START, mint

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal.toml"


def _config():  # type: ignore[no-untyped-def]
    cfg = load(EXAMPLE)
    access = msgspec.structs.replace(
        cfg.access, keys=[AccessKey(kid=KID, public_key=public_key_b64(KEY))]
    )
    return msgspec.structs.replace(cfg, access=access)


def test_site_access_from_example_config() -> None:
    """Keys, gates, zones (with sub-zones), policy minutes and readers come from the config."""
    cfg = _config()
    site = site_access(cfg)
    gate = site.gates["entrance"]
    assert site.site == "demo-min" and site.keys.kids == (KID,)
    assert gate.zones == frozenset({"hall", "court-1"}) and gate.egress
    assert gate.direction is Direction.IN
    assert site.policy.early_entry_s == 15 * 60
    assert [(r.reader_id, r.gate_id, r.kind) for r in readers(cfg)] == [
        ("qr-entrance", "entrance", CredentialKind.QR)
    ]


def test_gate_zone_includes_descendants() -> None:
    """A gate into a hall admits to the hall's courts and their sub-zones."""
    parents = {"hall": None, "court-1": "hall", "net-1": "court-1", "gym": None}
    assert with_descendants(["hall"], parents) == {"hall", "court-1", "net-1"}


async def test_decisions_follow_the_booking_store(tmp_path: Path) -> None:
    """Passes, members and plates are decided against BookingStore; a delta cancels at once."""
    cfg = _config()
    db = Database.open(tmp_path / "edged.db", [SCHEMA])
    try:
        bookings = await BookingStore.open(db)
        b = Booking(
            booking_id="b-1", zone="court-1", start=START, end=END, member="m-42", plate="ab 12 cd"
        )
        await bookings.replace_all(1, [b])
        index = BookingIndex(cfg.site.id, bookings.snapshot())
        bookings.changes.subscribe(lambda change: index.rebuild(change.bookings))
        store = AccessStore(db, site_access(cfg), lambda conn: index)
        token = QrCredential(mint(site="demo-min", zones=("court-1",), entries=0))
        assert (await store.decide(token, "entrance", NOW)).reason is Reason.GRANTED
        member = await store.decide(MemberCredential("m-42"), "entrance", NOW)
        assert (member.reason, member.booking_id) == (Reason.GRANTED, "b-1")
        plate = await store.decide(PlateCredential("AB12CD"), "entrance", NOW)
        assert plate.reason is Reason.GRANTED
        await bookings.apply(2, [msgspec.structs.replace(b, status="cancelled")], [])
        later = NOW + timedelta(minutes=20)
        assert (await store.decide(token, "entrance", later)).reason is Reason.BOOKING_CANCELLED
        assert (await store.decide(MemberCredential("m-42"), "entrance", later)).reason is (
            Reason.BOOKING_CANCELLED
        )
        await bookings.apply(3, [], ["b-1"])
        assert (await store.decide(token, "entrance", later)).reason is Reason.BOOKING_UNKNOWN
    finally:
        db.close()
