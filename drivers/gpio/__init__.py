"""GPIO relays and debounced inputs: `Gpio(backend, relays, inputs, clock=...)`.

Backends: `SimulatedGpio()` (tests, simulator) and `open_backend("rpi")` which
imports RPi.GPIO lazily and raises `GpioUnavailable` with a clear message off a Pi.
"""

from __future__ import annotations

from .backend import GpioBackend, Pull
from .errors import GpioError, GpioUnavailable, UnknownChannel
from .io import Gpio, InputEdge, InputSpec, RelaySpec
from .simulated import SimulatedGpio


def open_backend(kind: str) -> GpioBackend:
    """`"simulated"` or `"rpi"`; configuration-time errors are GpioUnavailable."""
    if kind == "simulated":
        return SimulatedGpio()
    if kind == "rpi":
        from .rpi import RpiGpio

        return RpiGpio()
    raise GpioUnavailable(kind, "unknown backend; use 'rpi' or 'simulated'")


__all__ = [
    "Gpio",
    "GpioBackend",
    "GpioError",
    "GpioUnavailable",
    "InputEdge",
    "InputSpec",
    "Pull",
    "RelaySpec",
    "SimulatedGpio",
    "UnknownChannel",
    "open_backend",
]
