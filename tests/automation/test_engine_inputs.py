"""A booking that brings a new input (its zone's temperature) is evaluated with that input."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.modbus.events import PointUpdate, Quality
from edge.automation.emergency import EmergencyState
from edge.automation.engine import Automation
from edge.automation.overrides import OverrideStore
from edge.automation.reconciler import Reconciler
from edge.automation.state import AutomationState
from edge.bookings.store import BookingStore
from edge.clock import SimClock
from edge.field.points import PointTable
from edge.liveness import Liveness
from edge.storage import Database
from edge.topic import Topic
from rules.model import Booking, HvacSpec, Site, ZoneSpec

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 7, 15, 17, 35, tzinfo=TZ)


async def never_written(device: str, point: str, value: object) -> object:
    raise AssertionError("no writes expected: no read-back is published in this test")


async def test_new_booking_uses_zone_temperature_at_once(tmp_path: Path) -> None:
    """Hall at 30.4 C, booking at 19:00: HVAC wanted on now (optimal start), not at 18:30."""
    clock = SimClock(T0)
    points = PointTable()
    points.publish(PointUpdate("ahu", "room_temp", 30.4, Quality.GOOD, clock.now()))
    db = Database.open(tmp_path / "e.db")
    store = await BookingStore.open(db)
    site = Site(
        timezone="Asia/Shanghai",
        zones=(
            ZoneSpec(
                id="hall",
                kind="hall",
                target_temp_c=25.0,
                temp_point="ahu.room_temp",
                hvac=(HvacSpec(enable="ahu.on", setpoint="ahu.setpoint"),),
            ),
        ),
    )
    reconciler = Reconciler(clock, points, never_written)  # type: ignore[arg-type]
    state = await AutomationState.open(db)
    automation = Automation(
        site, {}, clock, points, reconciler, store,
        await OverrideStore.open(db, clock), state, await EmergencyState.open(db, clock),
        Topic("access"), Liveness(clock),
    )  # fmt: skip
    task = asyncio.create_task(automation.run(lambda: None))
    for _ in range(50):
        await asyncio.sleep(0.01)
    await store.replace_all(
        1,
        [
            Booking(
                booking_id="b",
                zone="hall",
                start=T0.replace(hour=19, minute=0),
                end=T0.replace(hour=21, minute=0),
                version=1,
            )
        ],
    )
    for _ in range(50):
        await asyncio.sleep(0.01)
    want = reconciler.effective("ahu.on")
    assert want is not None and want.value is True and want.level == "booking"
    assert state.last is not None and state.last.prestarts
    lead = state.last.prestarts[0].lead_s
    assert timedelta(seconds=lead) == timedelta(minutes=108)  # 5.4 K at the default 3 K/h
    # The plan says 17:12, but the HVAC began when edged heard of the booking: the energy
    # window starts then.
    assert state.prestart_of("hall", T0.replace(hour=19, minute=0)) == T0
    task.cancel()
    db.close()
