"""Settings of a GPIO bus and its devices (frozen), and the backend they name.

The daemon maps its venue config onto these once:

    bus = GpioBusSettings(name="pins", backend=BackendKind.REMOTE, socket="/run/sim/pins.sock")
    devices = [
        GpioDeviceSettings.relay("barrier", 18),
        GpioDeviceSettings.input("barrier-closed", 19, debounce_s=0.05),
    ]
    async with GpioBus.from_settings(bus, devices, clock=clock, on_event=cb) as gpio: ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from .backend import GpioBackend
from .errors import GpioUnavailable
from .lines import MAX_LINE, Direction, LineConfig, Pull


class BackendKind(StrEnum):
    GPIOD = "gpiod"
    """libgpiod 2 (any Linux board, every Raspberry Pi including the 5). The default."""
    RPI = "rpi"
    """RPi.GPIO, or rpi-lgpio (its drop-in for the Pi 5)."""
    REMOTE = "remote"
    """Pins served by another process over a unix socket (the simulator)."""
    SIMULATED = "simulated"
    """Pins in this process's memory (unit tests, `edgectl gpio --backend simulated`)."""


class DeviceKind(StrEnum):
    RELAY = "gpio_relay"
    """An output driving a relay: point `relay` (bool), written level-triggered."""
    INPUT = "gpio_input"
    """A debounced contact input: point `state` (bool, True = contact closed / active)."""


POINT = {DeviceKind.RELAY: "relay", DeviceKind.INPUT: "state"}


@dataclass(frozen=True, slots=True)
class GpioBusSettings:
    name: str
    """The bus id (the venue config's `[[buses]] id`)."""
    backend: BackendKind = BackendKind.GPIOD
    chip: str = "/dev/gpiochip0"
    """gpiod: the GPIO character device (a Pi's header is gpiochip0; `gpiodetect` lists them)."""
    socket: str = ""
    """remote: the unix socket of the GPIO server."""
    consumer: str = "edged"
    """gpiod: the consumer name `gpioinfo` shows on the requested lines."""
    poll_interval_s: float = 1.0
    """Every line is re-read this often (edges are pushed; this catches anything missed)."""
    timeout_s: float = 1.0
    """remote: how long a call waits for the server."""

    def __post_init__(self) -> None:
        if not isinstance(self.backend, BackendKind):
            object.__setattr__(self, "backend", BackendKind(self.backend))
        if self.backend is BackendKind.REMOTE and not self.socket:
            raise ValueError(f"GPIO bus {self.name!r}: the remote backend needs `socket`")
        if self.backend is BackendKind.GPIOD and not self.chip:
            raise ValueError(f"GPIO bus {self.name!r}: the gpiod backend needs `chip`")
        for key in ("poll_interval_s", "timeout_s"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0.01 <= value <= 3600):
                raise ValueError(f"GPIO bus {self.name!r}: {key} = {value} must be 0.01..3600")


@dataclass(frozen=True, slots=True)
class GpioDeviceSettings:
    name: str
    line: int
    """Line offset on the chip; on a Raspberry Pi the BCM GPIO number (GPIO17 = 17)."""
    kind: DeviceKind
    active_low: bool = False
    """True: logical on/active is a low pin (relay boards switched by low; pulled-up contacts)."""
    pull: Pull = "off"
    """Inputs: internal bias; ignored for relays."""
    debounce_s: float = 0.05
    """Inputs: a level counts once stable this long."""
    heartbeat_s: float = 60.0
    """An unchanged value is reported again this often (the config's `report_every`)."""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, DeviceKind):
            object.__setattr__(self, "kind", DeviceKind(self.kind))
        where = f"GPIO device {self.name!r}"
        if not 0 <= self.line <= MAX_LINE:
            raise ValueError(f"{where}: line {self.line} must be 0..{MAX_LINE}")
        if self.pull not in ("up", "down", "off"):
            raise ValueError(f"{where}: pull {self.pull!r} must be up, down or off")
        if not (math.isfinite(self.debounce_s) and 0 <= self.debounce_s <= 10):
            raise ValueError(f"{where}: debounce_s = {self.debounce_s} must be 0..10")
        if not (math.isfinite(self.heartbeat_s) and 0.05 <= self.heartbeat_s <= 86400):
            raise ValueError(f"{where}: heartbeat_s = {self.heartbeat_s} must be 0.05..86400")

    @classmethod
    def relay(
        cls, name: str, line: int, *, active_low: bool = False, heartbeat_s: float = 60.0
    ) -> GpioDeviceSettings:
        return cls(name, line, DeviceKind.RELAY, active_low=active_low, heartbeat_s=heartbeat_s)

    @classmethod
    def input(
        cls,
        name: str,
        line: int,
        *,
        active_low: bool = True,
        pull: Pull | None = None,
        debounce_s: float = 0.05,
        heartbeat_s: float = 60.0,
    ) -> GpioDeviceSettings:
        """Defaults fit the usual wiring: a dry contact to ground on a pulled-up pin."""
        if pull is None:
            pull = "up" if active_low else "down"
        return cls(
            name,
            line,
            DeviceKind.INPUT,
            active_low=active_low,
            pull=pull,
            debounce_s=debounce_s,
            heartbeat_s=heartbeat_s,
        )

    @property
    def point(self) -> str:
        return POINT[self.kind]

    @property
    def line_config(self) -> LineConfig:
        if self.kind is DeviceKind.RELAY:
            # A relay is requested off: a restarted daemon never finds one left on.
            return LineConfig(self.line, Direction.OUTPUT, self.active_low, "off", initial=False)
        return LineConfig(self.line, Direction.INPUT, self.active_low, self.pull)


def make_backend(settings: GpioBusSettings) -> GpioBackend:
    """The backend a bus names; a missing package raises GpioUnavailable here, a missing
    chip when the bus starts."""
    match settings.backend:
        case BackendKind.GPIOD:
            from .gpiod_backend import GpiodBackend

            return GpiodBackend(settings.chip, consumer=settings.consumer)
        case BackendKind.RPI:
            from .rpi import RpiBackend

            return RpiBackend()
        case BackendKind.REMOTE:
            from .remote import RemoteGpio

            return RemoteGpio(
                settings.socket, client_name=settings.consumer, timeout_s=settings.timeout_s
            )
        case BackendKind.SIMULATED:
            from .simulated import SimulatedGpio

            return SimulatedGpio()
    raise GpioUnavailable(str(settings.backend), "unknown backend")  # pragma: no cover
