"""zone_wanted from a real rules evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.alarms.wanted import zone_wanted_from
from rules.engine import evaluate
from rules.evaluation import Evaluation
from rules.model import Booking, HvacSpec, LightSpec, Site, World, ZoneSpec

SITE = Site(
    timezone="Asia/Shanghai",
    zones=(
        ZoneSpec(id="hall", kind="hall", hvac=(HvacSpec(enable="hvac-1.on"),)),
        ZoneSpec(id="court-1", kind="court", parent="hall",
                 lights=(LightSpec(output="lights-1.ch1_on"),)),
        ZoneSpec(id="court-2", kind="court", parent="hall",
                 lights=(LightSpec(output="lights-1.ch2_on"),)),
    ),
)  # fmt: skip
BOOKING = Booking(
    booking_id="b-1",
    zone="court-1",
    start=datetime(2026, 11, 21, 11, 0, tzinfo=UTC),
    end=datetime(2026, 11, 21, 13, 0, tzinfo=UTC),
)


def test_wanted_follows_bookings_and_parents() -> None:
    """During a court-1 booking court-1 and the hall are wanted, court-2 is not; after the
    booking nothing is; before any evaluation everything counts as wanted."""
    last: list[Evaluation | None] = [None]
    wanted = zone_wanted_from(SITE, lambda: last[0])
    t = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert wanted("court-2", t) is True
    last[0] = evaluate(World(site=SITE, bookings=(BOOKING,)), t)
    assert (wanted("court-1", t), wanted("hall", t), wanted("court-2", t)) == (True, True, False)
    late = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    last[0] = evaluate(World(site=SITE, bookings=(BOOKING,)), late)
    assert not any(wanted(z, late) for z in ("court-1", "court-2", "hall"))
