"""GpioBus on the in-process simulated backend, on a stepped clock: writes, debounce, outages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from drivers.gpio import (
    BadValue,
    BusClosed,
    DeviceKind,
    GpioBus,
    GpioBusSettings,
    GpioDeviceSettings,
    GpioLinkDown,
    PointNotWritable,
    SimulatedGpio,
    UnknownPoint,
)
from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from edge.clock import SimClock

T0 = datetime(2026, 5, 1, 19, 0, tzinfo=UTC)

RELAY = GpioDeviceSettings.relay("gate", 27, active_low=True)
DOOR = GpioDeviceSettings.input("door", 22, debounce_s=0.05, heartbeat_s=30.0)


def updates(events: list[BusEvent], device: str) -> list[tuple[object, Quality]]:
    return [
        (e.value, e.quality) for e in events if isinstance(e, PointUpdate) and e.device == device
    ]


def statuses(events: list[BusEvent], device: str) -> list[bool]:
    return [e.online for e in events if isinstance(e, DeviceStatus) and e.device == device]


async def test_relay_write_is_verified_by_read_back_and_active_low_inverts() -> None:
    """A write drives the electrical level (inverted when active-low), reads it back and
    reports it; the relay starts off and is driven off when the bus exits."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    events: list[BusEvent] = []
    async with GpioBus(hw, [RELAY, DOOR], name="pins", clock=clock, on_event=events.append) as bus:
        assert hw.level(27) is True  # off = high on an active-low relay board
        assert bus.device_online("gate") is True
        result = await bus.write("gate", "relay", True)
        assert (result.requested, result.value, result.verified) == (True, True, True)
        assert result.quality is Quality.GOOD
        assert hw.level(27) is False
        assert updates(events, "gate") == [(False, Quality.GOOD), (True, Quality.GOOD)]
        assert (await bus.write("gate", "relay", 0)).value is False
        assert bus.stats.transactions >= 4 and bus.stats.errors == 0
        await bus.write("gate", "relay", 1)
    assert hw.level(27) is True and hw.closed  # exit: off, then released
    assert hw.history[-1] == (27, True)


async def test_bad_writes_are_refused_before_touching_the_line() -> None:
    """Unknown device or point, an input, a value that is not on/off: named errors."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    async with GpioBus(hw, [RELAY, DOOR], clock=clock) as bus:
        before = list(hw.history)
        with pytest.raises(UnknownPoint, match="'nope'"):
            await bus.write("nope", "relay", True)
        with pytest.raises(UnknownPoint, match="point 'ch1'"):
            await bus.write("gate", "ch1", True)
        with pytest.raises(PointNotWritable, match="input"):
            await bus.write("door", "state", True)
        for bad in (2, 0.5, "on"):
            with pytest.raises(BadValue, match="not on/off"):
                await bus.write("gate", "relay", bad)
        assert hw.history == before
    with pytest.raises(BusClosed):
        await bus.write("gate", "relay", True)


def test_settings_are_checked_and_kinds_have_their_defaults() -> None:
    """Bad lines, pulls, intervals and a remote bus without socket are refused by name."""
    door = GpioDeviceSettings.input("door", 5)
    assert (door.kind, door.active_low, door.pull, door.point) == (
        DeviceKind.INPUT,
        True,
        "up",
        "state",
    )
    assert GpioDeviceSettings.input("x", 5, active_low=False).pull == "down"
    assert GpioDeviceSettings.relay("r", 6).line_config.initial is False
    with pytest.raises(ValueError, match="line 2000"):
        GpioDeviceSettings.relay("r", 2000)
    with pytest.raises(ValueError, match="pull 'sideways'"):
        GpioDeviceSettings("d", 4, DeviceKind.INPUT, pull="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs `socket`"):
        GpioBusSettings("pins", "remote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval_s"):
        GpioBusSettings("pins", poll_interval_s=0)
    with pytest.raises(ValueError, match="used by more than one"):
        GpioBus(SimulatedGpio(), [RELAY, GpioDeviceSettings.input("x", 27)])
    with pytest.raises(ValueError, match="duplicate"):
        GpioBus(SimulatedGpio(), [RELAY, GpioDeviceSettings.input("gate", 3)])


async def test_inputs_are_debounced_and_reported_by_exception_with_heartbeat() -> None:
    """Chatter shorter than debounce_s is ignored; a stable change gives one update; an
    unchanged value is reported again after heartbeat_s."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    events: list[BusEvent] = []
    async with GpioBus(hw, [DOOR], clock=clock, on_event=events.append, poll_interval_s=0.5):
        assert updates(events, "door") == [(False, Quality.GOOD)]  # pulled up: contact open
        for _ in range(5):  # 20 ms closed, 10 ms open
            hw.set_input(22, False)
            await clock.advance(0.02)
            hw.set_input(22, True)
            await clock.advance(0.01)
        assert updates(events, "door") == [(False, Quality.GOOD)]
        hw.set_input(22, False)
        await clock.advance(0.049)
        assert len(updates(events, "door")) == 1
        await clock.advance(0.002)
        assert updates(events, "door")[-1] == (True, Quality.GOOD)
        await clock.advance(10.0)  # polls find nothing new
        assert len(updates(events, "door")) == 2
        await clock.advance(20.5)  # 30 s after the last report: the heartbeat
        assert updates(events, "door")[-1] == (True, Quality.GOOD)
        assert len(updates(events, "door")) == 3


async def test_a_missed_edge_is_caught_by_the_poll() -> None:
    """A level changed without a pushed change is read by the next poll, then debounced."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    events: list[BusEvent] = []
    async with GpioBus(hw, [DOOR], clock=clock, on_event=events.append, poll_interval_s=1.0):
        hw.levels[22] = False  # behind the backend's back: no listener call
        await clock.advance(1.0)  # the poll sees it: candidate
        await clock.advance(0.06)
        assert updates(events, "door")[-1] == (True, Quality.GOOD)


async def test_outage_marks_devices_offline_and_recovery_rereads() -> None:
    """Link down: offline + comm_fail, writes refused; back: online, values read again."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    events: list[BusEvent] = []
    async with GpioBus(hw, [RELAY, DOOR], clock=clock, on_event=events.append) as bus:
        await bus.write("gate", "relay", True)
        hw.disconnect("server gone")
        assert statuses(events, "gate") == [True, False]
        assert updates(events, "gate")[-1] == (True, Quality.COMM_FAIL)
        assert updates(events, "door")[-1] == (False, Quality.COMM_FAIL)
        assert bus.stats.connected is False
        with pytest.raises(GpioLinkDown, match="server gone"):
            await bus.write("gate", "relay", False)
        done, cycles = bus.stats.transactions, bus.poll_cycles
        await clock.advance(3.0)  # polls go on (liveness), lines are not touched
        assert bus.poll_cycles == cycles + 3 and bus.stats.transactions == done
        hw.reconnect()  # as after a server restart: the relay was requested off again
        await clock.advance(0)
        assert statuses(events, "gate") == [True, False, True]
        assert updates(events, "gate")[-1] == (False, Quality.GOOD)
        assert bus.stats.reconnects == 1 and bus.stats.errors == 1


async def test_a_cancelled_write_of_on_leaves_the_relay_off() -> None:
    """The caller of write(on) is cancelled before it returns: the bus turns the relay off."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    events: list[BusEvent] = []
    async with GpioBus(hw, [RELAY], clock=clock, on_event=events.append) as bus:
        task = asyncio.create_task(bus.write("gate", "relay", True))
        await asyncio.sleep(0)  # the write is under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(10):
            await asyncio.sleep(0)
        assert (27, False) in hw.history  # it was on...
        assert hw.level(27) is True  # ...and is off again (active-low: high)
        assert updates(events, "gate")[-1] == (False, Quality.GOOD)


async def test_leaving_the_bus_under_cancellation_drives_relays_off() -> None:
    """A task holding the bus with a relay on is cancelled: the relay ends off."""
    hw, clock = SimulatedGpio(), SimClock(T0)
    holding = asyncio.Event()

    async def hold() -> None:
        async with GpioBus(hw, [RELAY], clock=clock) as bus:
            await bus.write("gate", "relay", True)
            holding.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold())
    await holding.wait()
    assert hw.level(27) is False  # on
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hw.level(27) is True and hw.closed
