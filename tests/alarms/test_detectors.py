"""Every built-in detector triggered through simulated devices (or its source), and cleared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .rig import AlarmRig, Booking, alarm_rig, until


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[AlarmRig]:
    async with alarm_rig(tmp_path) as r:
        yield r


async def test_comm_lost_and_back(rig: AlarmRig) -> None:
    """A silent unit raises comm_lost for its device; answering again clears it."""
    rig.units["env-1"].offline = True
    await rig.until_state("comm_lost:env-1", "active")
    rec = rig.service.engine.get("comm_lost:env-1")
    assert rec is not None and rec.zone == "hall" and rec.severity.value == "major"
    rig.units["env-1"].heal()
    await rig.until_state("comm_lost:env-1", "cleared")


async def test_lamp_failure_from_feedback_bit(rig: AlarmRig) -> None:
    """Channel on, lamp feedback off: lamp_failure (latching) until lit again and acked."""
    rig.set("lights-1", "ch3_lamp", True)
    rig.set("lights-1", "ch3_current", 1.8)
    rig.set("lights-1", "ch3_dim", 100)
    # The lamp reads lit before the channel is switched on: the channel's blocks are read
    # one after the other, and a poll between them would see "on, lamp dark" for a moment.
    await until(lambda: getattr(rig.service._points.get("lights-1.ch3_lamp"), "value", 0) is True)
    rig.set("lights-1", "ch3_on", True)
    await until(lambda: getattr(rig.service._points.get("lights-1.ch3_on"), "value", 0) is True)
    await rig.service.engine.idle.wait()
    assert rig.state("lamp_failure:lights-1.ch3") is None
    rig.set("lights-1", "ch3_lamp", False)  # the ballast reports the lamp dark
    await rig.until_state("lamp_failure:lights-1.ch3", "active")
    rig.set("lights-1", "ch3_lamp", True)
    await rig.until_state("lamp_failure:lights-1.ch3", "returned")
    rig.service.engine.ack("lamp_failure:lights-1.ch3", "tech")
    assert rig.state("lamp_failure:lights-1.ch3") == "cleared"


async def test_lamp_failure_from_current(rig: AlarmRig) -> None:
    """Feedback says lit but no current flows: also a lamp failure; switching off clears."""
    rig.set("lights-1", "ch4_lamp", True)
    rig.set("lights-1", "ch4_dim", 80)
    rig.set("lights-1", "ch4_current", 0.0)
    rig.set("lights-1", "ch4_on", True)
    await rig.until_state("lamp_failure:lights-1.ch4", "active")
    assert "current 0.00 A" in rig.service.engine.get("lamp_failure:lights-1.ch4").message  # type: ignore[union-attr]
    rig.set("lights-1", "ch4_on", False)
    await rig.until_state("lamp_failure:lights-1.ch4", "returned")


async def test_door_forced_and_held(rig: AlarmRig) -> None:
    """Gate inputs: forced -> door_forced (latching); held_open bit -> door_held_open."""
    rig.banks["gate-1"].set_discrete(1, [True])
    await rig.until_state("door_forced:gate-1", "active")
    assert rig.service.engine.get("door_forced:gate-1").severity.value == "critical"  # type: ignore[union-attr]
    rig.banks["gate-1"].set_discrete(1, [False])
    await rig.until_state("door_forced:gate-1", "returned")
    rig.banks["gate-1"].set_discrete(2, [True])
    await rig.until_state("door_held_open:gate-1", "active")
    rig.banks["gate-1"].set_discrete(2, [False])
    await rig.until_state("door_held_open:gate-1", "cleared")


async def test_door_contact_open_too_long(rig: AlarmRig) -> None:
    """The door contact open longer than door_open_max_s (0.5 s) counts as held open."""
    rig.banks["gate-1"].set_discrete(0, [True])
    await until(lambda: rig.service._points.get("gate-1.door_open") is not None)
    await until(lambda: bool(rig.service._points.get("gate-1.door_open").value))  # type: ignore[union-attr]
    assert rig.state("door_held_open:gate-1") is None
    await rig.until_state("door_held_open:gate-1", "active")
    rig.banks["gate-1"].set_discrete(0, [False])
    await rig.until_state("door_held_open:gate-1", "cleared")


@pytest.mark.parametrize(
    ("point", "bad", "good", "alarm"),
    [
        ("temperature", 35.5, 22.0, "temperature_range:env-1.temperature"),
        ("temperature", -3.0, 22.0, "temperature_range:env-1.temperature"),
        ("humidity", 91.0, 50.0, "humidity_range:env-1.humidity"),
        ("co2", 2400, 600, "co2_high:env-1.co2"),
    ],
)
async def test_environment_out_of_range(
    rig: AlarmRig, point: str, bad: float, good: float, alarm: str
) -> None:
    """Temperature, humidity and CO2 out of range raise; back in range clears."""
    rig.set("env-1", point, bad)
    await rig.until_state(alarm, "active")
    rig.set("env-1", point, good)
    await rig.until_state(alarm, "cleared")


async def test_hvac_not_ready_after_booking_start(rig: AlarmRig) -> None:
    """A court booking running, the hall fan-coil 5 K short of its setpoint: hvac_not_ready
    on the hall HVAC; once within 1 K it clears."""
    rig.set("hvac-1", "setpoint", 25.0)
    rig.set("hvac-1", "room_temp", 20.0)
    now = datetime.now(UTC)
    rig.sources.bookings = [
        Booking("b-7", "court-1", now - timedelta(minutes=1), now + timedelta(hours=1))
    ]
    await rig.until_state("hvac_not_ready:hvac-1", "active")
    rec = rig.service.engine.get("hvac_not_ready:hvac-1")
    assert rec is not None and "b-7" in rec.message and rec.zone == "court-1"
    rig.set("hvac-1", "room_temp", 24.4)
    await rig.until_state("hvac_not_ready:hvac-1", "cleared")


async def test_no_hvac_alarm_without_a_running_booking(rig: AlarmRig) -> None:
    """Far from the setpoint but nothing booked: no alarm."""
    rig.set("hvac-1", "setpoint", 25.0)
    rig.set("hvac-1", "room_temp", 15.0)
    await until(lambda: rig.service._points.get("hvac-1.room_temp").value == 15.0)  # type: ignore[union-attr]
    for _ in range(5):
        rig.service.tick()
    assert rig.state("hvac_not_ready:hvac-1") is None


async def test_lights_left_on_in_unwanted_zone(rig: AlarmRig) -> None:
    """A court light on while nothing wants the court lit raises lights_left_on; wanted
    again (a booking) clears it; metered power above the floor also counts."""
    rig.set("lights-1", "ch2_on", True)
    await rig.until_state("lights_left_on:court-1", "active")
    rig.sources.wanted.add("court-1")
    await rig.until_state("lights_left_on:court-1", "cleared")
    rig.set("lights-1", "ch2_on", False)
    rig.set("m-c1", "power_w", 3500)
    points = rig.service._points
    await until(lambda: getattr(points.get("m-c1.power_w"), "value", 0) == 3500)
    await until(lambda: getattr(points.get("lights-1.ch2_on"), "value", 0) is False)
    rig.sources.wanted.clear()
    await rig.until_state("lights_left_on:court-1", "active")
    assert "3500 W" in rig.service.engine.get("lights_left_on:court-1").message  # type: ignore[union-attr]
    rig.set("m-c1", "power_w", 20)
    await rig.until_state("lights_left_on:court-1", "cleared")


async def test_maintenance_due_from_counters_and_run_hours(rig: AlarmRig) -> None:
    """Switch cycles over the profile default, and the fan-coil's own run hours over its
    limit, raise maintenance_due; a counter reset and a serviced unit clear it."""
    rig.sources.counters = {"lights-1.ch1_on": {"run_hours": 10.0, "cycles": 100_000.0}}
    await rig.until_state("maintenance_due:lights-1.ch1_on", "active")
    rig.sources.counters = {"lights-1.ch1_on": {"run_hours": 0.0, "cycles": 0.0}}
    await rig.until_state("maintenance_due:lights-1.ch1_on", "cleared")
    rig.set("hvac-1", "run_hours", 4100)
    await rig.until_state("maintenance_due:hvac-1.run_hours", "active")
    rig.set("hvac-1", "run_hours", 3)
    await rig.until_state("maintenance_due:hvac-1.run_hours", "cleared")


async def test_outbox_high_water(rig: AlarmRig) -> None:
    """Above 80 % of the outbox bound raises outbox_high; draining clears it."""
    rig.sources.outbox = (850, 1000)
    await rig.until_state("outbox_high:uplink", "active")
    rig.sources.outbox = (10, 1000)
    await rig.until_state("outbox_high:uplink", "cleared")


async def test_clock_not_synchronised(rig: AlarmRig) -> None:
    """The injected sync state False raises clock_unsynced; True clears; None changes nothing."""
    rig.sources.synced = False
    await rig.until_state("clock_unsynced:system", "active")
    rig.sources.synced = None
    rig.service.tick()
    assert rig.state("clock_unsynced:system") == "active"
    rig.sources.synced = True
    await rig.until_state("clock_unsynced:system", "cleared")


async def test_storage_error_latches(rig: AlarmRig) -> None:
    """A storage failure reported by the lead raises storage_error; recovery leaves it
    `returned` until acknowledged."""
    rig.service.storage_error("disk I/O error writing outbox", "outbox")
    assert rig.state("storage_error:outbox") == "active"
    rig.service.storage_ok("outbox")
    assert rig.state("storage_error:outbox") == "returned"
    rig.service.engine.ack("storage_error:outbox", "tech")
    assert rig.state("storage_error:outbox") == "cleared"


def test_the_kernel_clock_state_is_read_with_libc_looked_up_once() -> None:
    """The real clock's sync state comes from adjtimex(2); libc is found once (finding it
    runs `ldconfig -p`), not at every clock check."""
    from edge.alarms import system

    first, second = system.kernel_clock_synced(), system.kernel_clock_synced()
    assert first is None or isinstance(first, bool)
    assert second == first
    assert system._adjtimex.cache_info().misses <= 1
