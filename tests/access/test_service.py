"""End to end without hardware: reader lines -> limiter -> SQLite decision -> event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from structlog.testing import capture_logs

from edge.access import (
    SCHEMA,
    AccessService,
    AccessStore,
    CredentialKind,
    RateLimitSettings,
    ReaderLimiter,
    ReaderSpec,
)
from edge.clock import SimClock
from edge.storage import Database
from tests.access.helpers import NOW, MemoryBookings, booking, mint, site

QR = ReaderSpec("qr-main", "gate-main", CredentialKind.QR)
FACE = ReaderSpec("face-main", "gate-main", CredentialKind.MEMBER)


class Rig:
    def __init__(self, db: Database, clock: SimClock, emergency: list[bool]) -> None:
        self.db = db
        self.clock = clock
        self.emergency = emergency
        bookings = MemoryBookings()
        bookings.put(booking())
        self.store = AccessStore(db, site(), lambda conn: bookings)
        self.service = AccessService(
            self.store,
            clock,
            ReaderLimiter(clock.monotonic, RateLimitSettings(burst=3)),
            subject_salt=b"salt",
            emergency=lambda: self.emergency[0],
        )


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = Database.open(tmp_path / "edged.db", [SCHEMA])
    yield Rig(db, SimClock(NOW), [False])
    db.close()


async def test_scanned_line_with_crlf_is_granted(rig: Rig) -> None:
    """A pass line with its CR LF terminator is decided and granted."""
    event = await rig.service.on_line(QR, mint().encode() + b"\r\n")
    assert event is not None
    assert (event.granted, event.reason, event.reader, event.kind) == (
        True,
        "granted",
        "qr-main",
        "qr",
    )


async def test_repeats_are_dropped_and_replay_is_refused(rig: Rig) -> None:
    """Scanner repeats yield one event; the same pass later is passback, from the database."""
    line = mint(entries=0).encode()
    events = [await rig.service.on_line(QR, line) for _ in range(20)]
    assert [e.reason for e in events if e is not None] == ["granted"]
    await rig.clock.advance(5)
    replay = await rig.service.on_line(QR, line)
    assert replay is not None and replay.reason == "passback"


async def test_flooding_reader_reports_rate_limited_once(rig: Rig) -> None:
    """Distinct garbage lines beyond the burst: one rate_limited event, then silence."""
    events = [await rig.service.on_line(QR, f"junk-{i}".encode()) for i in range(10)]
    reasons = [e.reason for e in events if e is not None]
    assert reasons == ["malformed"] * 3 + ["rate_limited"]


async def test_member_line_is_decided_without_logging_the_id(rig: Rig) -> None:
    """A face-terminal line admits a booked member; the log line has no member id."""
    with capture_logs() as logs:
        event = await rig.service.on_line(FACE, b"m-42\n")
    assert event is not None and event.granted and event.booking_id == "b-1"
    assert logs[0]["event"] == "access_decision"
    assert "m-42" not in repr(logs)


async def test_store_failure_fails_closed(rig: Rig) -> None:
    """With the database gone the scan is refused as store_error, not raised."""
    rig.db.close()
    event = await rig.service.on_line(QR, mint().encode())
    assert event is not None and (event.granted, event.reason) == (False, "store_error")


async def test_latency_uses_received_at(rig: Rig) -> None:
    """Latency counts from the line's arrival time given by the reader."""
    arrived = rig.clock.monotonic()
    await rig.clock.advance(0.25)
    event = await rig.service.on_line(QR, mint().encode(), received_at=arrived)
    assert event is not None and event.latency_ms == 250.0
    assert event.ts == NOW + timedelta(seconds=0.25)


async def test_emergency_flag_reaches_the_decision(rig: Rig) -> None:
    """While the emergency callable says so, an egress gate reports emergency/granted."""
    fire_exit = ReaderSpec("qr-fire", "fire-exit", CredentialKind.QR)
    rig.emergency[0] = True
    event = await rig.service.on_line(fire_exit, b"not-a-pass")
    assert event is not None and (event.granted, event.reason) == (True, "emergency")
    rig.emergency[0] = False
    event = await rig.service.on_line(fire_exit, b"still-not-a-pass")
    assert event is not None and (event.granted, event.reason) == (False, "malformed")
