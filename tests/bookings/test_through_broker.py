"""Booking sync wired to the uplink: retained snapshot and deltas via a real mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.bookings import BookingStore, BookingSync
from edge.clock import SystemClock
from edge.storage import Database
from edge.uplink import EventBody
from sim.cloud import CloudEmulator
from tests.uplink.conftest import UplinkFactory

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def bk(bid: str, start_h: int) -> dict[str, str]:
    start = T0 + timedelta(hours=start_h)
    return {
        "booking_id": bid,
        "zone": "court-1",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


async def test_snapshot_delta_and_gap_over_mqtt(
    db: Database,
    cloud: CloudEmulator,
    make_uplink: UplinkFactory,
) -> None:
    """Retained snapshot lands in the store, a delta applies, a gap asks the cloud upstream."""
    store = await BookingStore.open(db)
    await cloud.publish_snapshot(3, [bk("a", 1)])  # retained before the gateway connects
    up = make_uplink()
    sync = BookingSync(store, SystemClock(), {"court-1"}.__contains__)
    # What the daemon's uplink feed does with a report: an `event` upstream.
    sync.reports.subscribe(
        lambda r: up.put_nowait(EventBody(kind=r.kind, message=r.message, data=r.data))
    )
    up.on_message("bookings", sync.on_snapshot)
    up.on_message("bookings/delta", sync.on_delta)
    async with up:
        await up.connected_event.wait()
        changed: list[int] = []
        store.changes.subscribe(lambda change: changed.append(change.version))
        await cloud.publish_delta(4, [bk("b", 3)])
        await cloud.publish_delta(6, [bk("d", 5)])
        await cloud.wait_for(
            lambda: any(e["kind"] == "bookings_resync_needed" for e in cloud.received["event"])
        )
        await cloud.publish_snapshot(6, [bk("a", 1), bk("b", 3), bk("d", 5)])
        await cloud.wait_for(lambda: store.version == 6)
    assert [b.booking_id for b in store.snapshot()] == ["a", "b", "d"]
    assert 4 in changed and changed[-1] == 6
    resync = next(e for e in cloud.received["event"] if e["kind"] == "bookings_resync_needed")
    assert resync["data"] == {"have_version": 4, "received_version": 6}
