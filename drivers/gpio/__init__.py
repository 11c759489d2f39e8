"""GPIO relays and debounced inputs as a bus, on libgpiod, RPi.GPIO or a remote pin server.

    bus = GpioBusSettings(name="pins", backend=BackendKind.GPIOD, chip="/dev/gpiochip0")
    devices = [GpioDeviceSettings.relay("barrier", 18),
               GpioDeviceSettings.input("barrier-closed", 19)]
    async with GpioBus.from_settings(bus, devices, clock=clock, on_event=cb) as gpio:
        result = await gpio.write("barrier", "relay", True)    # WriteResult, read back

See docs/drivers.md, section GPIO.
"""

from __future__ import annotations

from .backend import GpioBackend, GpioListener
from .blocking import BlockingGpio, open_backend
from .bus import GpioBus
from .errors import (
    BadValue,
    BusClosed,
    FrameError,
    GpioError,
    GpioLinkDown,
    GpioRefused,
    GpioTimeout,
    GpioUnavailable,
    PointNotWritable,
    UnknownPoint,
)
from .lines import Direction, LineConfig, Pull
from .remote import RemoteGpio
from .settings import BackendKind, DeviceKind, GpioBusSettings, GpioDeviceSettings, make_backend
from .simulated import SimulatedGpio

__all__ = [
    "BackendKind",
    "BadValue",
    "BlockingGpio",
    "BusClosed",
    "DeviceKind",
    "Direction",
    "FrameError",
    "GpioBackend",
    "GpioBus",
    "GpioBusSettings",
    "GpioDeviceSettings",
    "GpioError",
    "GpioLinkDown",
    "GpioListener",
    "GpioRefused",
    "GpioTimeout",
    "GpioUnavailable",
    "LineConfig",
    "PointNotWritable",
    "Pull",
    "RemoteGpio",
    "SimulatedGpio",
    "UnknownPoint",
    "make_backend",
    "open_backend",
]
