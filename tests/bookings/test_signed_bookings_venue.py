"""Booking signatures and version bounds against the running daemon, a real mosquitto and
the simulated venue: what a forged feed can do to the gates (nothing), and that no single
message stops the legitimate feed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sim.broker import MosquittoBroker
from tests.bookings.venue_rig import VenueRig, booking, until, venue_rig
from tests.brokers import mosquitto  # noqa: F401

FAKE_MEMBER, FAKE_PLATE = "M-FAKE-1", "京A66666"
SETTLE_S = 1.0
"""After the last refusal event arrived: time for anything that would still apply."""


async def refused_codes(rig: VenueRig, n: int) -> list[tuple[str, str]]:
    await rig.cloud.wait_for(lambda: len(rig.rejected()) >= n, within=10)
    await asyncio.sleep(SETTLE_S)
    return [(e["data"]["what"], e["data"]["code"]) for e in rig.rejected()]


async def test_forged_and_unsigned_bookings_open_no_gate(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """Booking keys configured: an unsigned and a forged snapshot and delta (made-up member
    and plate) are refused upstream with their codes; 0 bookings, 0 gate openings; then a
    validly signed one opens both gates (the check is not just refusing everything)."""
    key, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    async with venue_rig(tmp_path, mosquitto.port, booking_key=key) as rig:
        fake = [booking("b-fake", member=FAKE_MEMBER, plate=FAKE_PLATE)]
        await rig.cloud.publish_snapshot(1, fake, signed=False)
        await rig.cloud.publish_delta(1, fake, signed=False)
        await rig.cloud.publish_snapshot(2, fake, key=forger)  # kid "bookings", wrong key
        await rig.cloud.publish_delta(1, fake, key=forger)
        await rig.cloud.publish_snapshot(3, fake, key=forger, kid="other")
        # A valid signature for the delta topic replayed on the snapshot topic.
        body = rig.cloud.booking_body("bookings/delta", {"version": 1, "bookings": fake})
        await rig.cloud.publish("bookings", msgspec.json.encode(body))
        codes = await refused_codes(rig, 6)
        assert sorted(codes) == sorted(
            [
                ("snapshot", "signature_required"),
                ("delta", "signature_required"),
                ("snapshot", "bad_signature"),
                ("delta", "bad_signature"),
                ("snapshot", "unknown_key"),
                ("snapshot", "bad_signature"),
            ]
        )
        assert rig.stores.bookings.snapshot() == () and rig.stores.bookings.version == 0
        refused = [await rig.scan(rig.card, FAKE_MEMBER), await rig.scan(rig.plate, FAKE_PLATE)]
        assert [(d.gate, d.granted, d.reason) for d in refused] == [
            ("main", False, "no_booking"),
            ("carpark", False, "no_booking"),
        ]
        await asyncio.sleep(SETTLE_S)
        assert rig.openings == {"main": 0, "carpark": 0}
        assert rig.alarm_state() == "active"

        await rig.cloud.publish_snapshot(1, [booking("b-1", member="M-1", plate="粤B12345")])
        await until(lambda: rig.stores.bookings.version == 1)
        granted = [await rig.scan(rig.card, "M-1"), await rig.scan(rig.plate, "粤B12345")]
        assert [(d.gate, d.granted) for d in granted] == [("main", True), ("carpark", True)]
        await until(lambda: rig.openings == {"main": 1, "carpark": 1})
        # The made-up member still opens nothing after the legitimate feed applied.
        assert not (await rig.scan(rig.card, FAKE_MEMBER)).granted
        assert rig.alarm_state() == "returned"  # latching: stays until acknowledged


async def test_huge_version_is_refused_and_the_feed_goes_on(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """No booking keys (the worst case): a snapshot and a delta at version 2^63-1 are
    refused (`version_jump`, the warning alarm), change nothing, and the next legitimate
    snapshot and delta apply, after a restart of edged too."""
    big = 2**63 - 1
    async with venue_rig(tmp_path, mosquitto.port) as rig:
        await rig.cloud.publish_snapshot(1, [booking("b-1", member="M-1")])
        await until(lambda: rig.stores.bookings.version == 1)
        fake = [booking("b-fake", member=FAKE_MEMBER)]
        await rig.cloud.publish_snapshot(big, fake)
        await rig.cloud.publish_delta(big, fake)
        codes = await refused_codes(rig, 2)
        assert sorted(codes) == [("delta", "version_jump"), ("snapshot", "version_jump")]
        assert rig.stores.bookings.version == 1
        assert [b.booking_id for b in rig.stores.bookings.snapshot()] == ["b-1"]
        rec = rig.stores.alarms.get("bookings_refused:bookings")
        assert rec is not None and str(rec.severity) == "warning"
        assert str(rec.state) == "active" and str(big) in rec.message
        assert not (await rig.scan(rig.card, FAKE_MEMBER)).granted

        await rig.cloud.publish_delta(2, [booking("b-2", member="M-2")], ["b-1"])
        await until(lambda: rig.stores.bookings.version == 2)
        assert (await rig.scan(rig.card, "M-2")).granted
    # The retained 2^63-1 snapshot is delivered again on reconnect: still refused.
    async with venue_rig(tmp_path, mosquitto.port) as rig:
        await rig.cloud.wait_for(lambda: len(rig.rejected()) >= 1, within=10)
        assert rig.rejected()[0]["data"]["code"] == "version_jump"
        assert rig.stores.bookings.version == 2
        await rig.cloud.publish_snapshot(3, [booking("b-3", member="M-3")])
        await until(lambda: rig.stores.bookings.version == 3)
        assert (await rig.scan(rig.card, "M-3")).granted
        assert rig.openings["main"] == 1
