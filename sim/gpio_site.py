"""One GPIO bus of a venue config, simulated: its pins, its GPIO server and its barriers.

Every `gpio_relay` device of the bus is simulated as a barrier motor (`GpioBarrier`); a
`gpio_input` device named `<relay id>-closed` on the same bus is that barrier's closed
switch. Other `gpio_input` devices (door contacts, a fire input) rest inactive until the
`gpio_input` fault drives them. Polarity comes from the device's `active_low` when the config
has one (relays default to active-high, inputs to active-low: a contact on a pulled-up pin).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from drivers.clock import Clock
from edge.config.model import VenueConfig
from sim.devices.barrier import GpioBarrier
from sim.gpio import SimPins
from sim.gpio_server import GpioServer

BARRIER_TRAVEL_S = 4.0
"""A car-park barrier arm takes 1.5-6 s; 4 s is a common boom."""
MAX_SOCKET_PATH = 100
"""A unix socket path must fit sun_path (108 bytes with the terminator)."""


@dataclass
class GpioSite:
    bus_id: str
    pins: SimPins
    server: GpioServer
    lines: dict[str, int] = field(default_factory=dict)
    """Device id -> line."""
    barriers: dict[str, GpioBarrier] = field(default_factory=dict)
    """Relay device id -> its barrier."""

    @property
    def socket(self) -> Path:
        return self.server.path

    def set_input(self, pin: int, level: bool) -> None:
        """Drive a line electrically (the `gpio_input` fault)."""
        self.pins.drive(pin, level)

    def level(self, pin: int) -> bool:
        return self.pins.level(pin)


def _active_low(device: object, default: bool) -> bool:
    # Read when the config model has the key (the daemon's GPIO device options).
    value = getattr(device, "active_low", None)
    return default if value is None else bool(value)


@contextlib.asynccontextmanager
async def serve_gpio_bus(
    config: VenueConfig, bus_id: str, clock: Clock, socket: Path
) -> AsyncIterator[GpioSite]:
    """Serve bus `bus_id` on `socket` (a shorter temporary path if it is too long)."""
    short_dir: str | None = None
    if len(str(socket)) > MAX_SOCKET_PATH:
        short_dir = tempfile.mkdtemp(prefix="edge-gpio-")
        socket = Path(short_dir) / f"{bus_id}.sock"[-40:]
    pins = SimPins(clock)
    devices = [d for d in config.devices if d.bus == bus_id and d.pin is not None]
    by_id = {d.id: d for d in devices}
    try:
        async with contextlib.AsyncExitStack() as stack:
            server = GpioServer(pins, socket)
            site = GpioSite(bus_id, pins, server)
            for d in devices:
                assert d.pin is not None
                site.lines[d.id] = d.pin
                if d.profile == "gpio_input" and not d.id.endswith("-closed"):
                    pins.drive(d.pin, _active_low(d, True))  # at rest: inactive
            for d in devices:
                if d.profile != "gpio_relay" or d.pin is None:
                    continue
                switch = by_id.get(f"{d.id}-closed")
                barrier = GpioBarrier(
                    d.id,
                    pins,
                    clock,
                    d.pin,
                    relay_active_low=_active_low(d, False),
                    closed_line=switch.pin if switch and switch.profile == "gpio_input" else None,
                    closed_active_low=_active_low(switch, True) if switch else True,
                    travel_s=BARRIER_TRAVEL_S,
                )
                site.barriers[d.id] = await stack.enter_async_context(barrier)
            await stack.enter_async_context(server)
            yield site
    finally:
        if short_dir is not None:
            shutil.rmtree(short_dir, ignore_errors=True)
