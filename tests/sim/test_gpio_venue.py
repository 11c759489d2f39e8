"""A venue with a GPIO bus: the simulator serves its pins, a barrier moves on its relay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from drivers.gpio import GpioBus, GpioDeviceSettings, RemoteGpio
from drivers.modbus.events import BusEvent, PointUpdate
from edge.clock import SimClock, SystemClock
from sim.devices.barrier import GpioBarrier
from sim.gpio import SimPins
from sim.venue import SimVenue

GPIO_VENUE = """
[site]
id = "car-park"
gateway = "gw"

[[buses]]
kind = "gpio"
id = "pins"

[[devices]]
id = "barrier"
profile = "gpio_relay"
bus = "pins"
pin = 18

[[devices]]
id = "barrier-closed"
profile = "gpio_input"
bus = "pins"
pin = 19

[[devices]]
id = "fire-in"
profile = "gpio_input"
bus = "pins"
pin = 17
"""

DEVICES = [
    GpioDeviceSettings.relay("barrier", 18),
    GpioDeviceSettings.input("barrier-closed", 19, debounce_s=0.01),
    GpioDeviceSettings.input("fire-in", 17, debounce_s=0.01),
]


async def wait_for(cond: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def last(events: list[BusEvent], device: str) -> object:
    return [e.value for e in events if isinstance(e, PointUpdate) and e.device == device][-1]


async def test_a_gpio_bus_of_the_config_is_served_with_a_barrier(
    tmp_path: Path, clock: SimClock
) -> None:
    """`[[buses]] kind = "gpio"` with a `gpio_relay`: the venue serves the pins on a unix
    socket, the relay drives a barrier whose `<relay>-closed` input follows it after its
    travel time, the pulse is measured at the barrier, and `gpio_input` drives the fire input."""
    path = tmp_path / "gpio.toml"
    path.write_text(GPIO_VENUE)
    events: list[BusEvent] = []
    async with SimVenue.from_config(path, clock) as venue:
        site = venue.gpio_sites["pins"]
        assert site.socket.exists() and "barrier" not in venue.world.unsimulated
        barrier = site.barriers["barrier"]
        async with GpioBus(
            RemoteGpio(site.socket), DEVICES, clock=SystemClock(), on_event=events.append
        ) as bus:
            assert last(events, "barrier-closed") is True and last(events, "fire-in") is False
            await bus.write("barrier", "relay", True)
            assert barrier.energised and venue.gpio_level("barrier") is True
            await clock.advance(1.0)
            await wait_for(lambda: last(events, "barrier-closed") is False)
            await clock.advance(2.0)  # still lifting: 3 s of a 4 s travel
            assert 0.7 < barrier.position < 0.8
            await bus.write("barrier", "relay", False)
            await clock.advance(2.9)  # down from 0.75 takes 3 s
            assert last(events, "barrier-closed") is False
            await clock.advance(0.2)
            await wait_for(lambda: last(events, "barrier-closed") is True)
            assert [p.length_s for p in barrier.pulses] == [3.0]  # stepped clock: exact
            assert barrier.truth()["last_pulse_s"] == 3.0

            await venue.fault("gpio_input", "fire-in", on=False)  # contact closes: pin low
            await wait_for(lambda: last(events, "fire-in") is True)
            await venue.fault("gpio_input", "fire-in", on=True)
            await wait_for(lambda: last(events, "fire-in") is False)
    assert not site.socket.exists()


async def test_barrier_reverses_mid_travel_and_keeps_every_pulse(clock: SimClock) -> None:
    """Relay dropped half way up: the arm comes down from there; each energised period is
    recorded with its length; an active-low relay is energised by a low pin."""
    pins = SimPins(clock)
    owner = object()
    from drivers.gpio.protocol import LineSpec

    async with GpioBarrier(
        "b", pins, clock, 5, relay_active_low=True, closed_line=6, travel_s=4.0
    ) as barrier:
        pins.request(owner, [LineSpec(line=5, dir="out", level=True)])  # high: off
        assert not barrier.energised and pins.level(6) is False  # closed switch made: low
        pins.write(owner, 5, False)
        await clock.advance(2.0)
        assert barrier.position == 0.5 and pins.level(6) is True
        pins.write(owner, 5, True)
        await clock.advance(1.9)
        assert not barrier.closed
        await clock.advance(0.2)
        assert barrier.closed and barrier.position == 0.0 and pins.level(6) is False
        pins.write(owner, 5, False)
        await clock.advance(0.5)
        pins.write(owner, 5, True)
        assert [p.length_s for p in barrier.pulses] == [2.0, 0.5]
        assert barrier.openings == 2
