"""GPIO buses as daemon components: the gateway's own relays and contact inputs.

Each `[[buses]] kind = "gpio"` becomes one `drivers.gpio.GpioBus`, registered with the
bus registry like a Modbus bus, so the reconciler (the one writer) drives its relays
level-triggered and verifies them by read-back; inputs go into the point table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from drivers.clock import Clock
from edge.config.model import Device, GpioBus, VenueConfig
from edge.field.buses import BusRegistry
from edge.field.points import PointTable
from edge.liveness import Liveness

if TYPE_CHECKING:  # the GPIO driver is imported only by a venue with GPIO buses
    from drivers.gpio.settings import GpioBusSettings, GpioDeviceSettings

log = structlog.get_logger("edge.field")


def gpio_buses(cfg: VenueConfig) -> list[GpioBus]:
    return [b for b in cfg.buses if isinstance(b, GpioBus)]


def gpio_settings(b: GpioBus) -> GpioBusSettings:
    from drivers.gpio.settings import BackendKind, GpioBusSettings

    return GpioBusSettings(
        name=b.id,
        backend=BackendKind(b.backend),
        chip=b.chip,
        socket=b.socket or "",
        poll_interval_s=b.poll_interval,
    )


def gpio_devices(cfg: VenueConfig, b: GpioBus) -> list[GpioDeviceSettings]:
    out = []
    for d in cfg.devices:
        if d.bus != b.id or d.pin is None:
            continue
        out.append(_device(d, d.pin))
    return out


def _device(d: Device, pin: int) -> GpioDeviceSettings:
    from drivers.gpio.settings import GpioDeviceSettings

    if d.profile == "gpio_relay":
        return GpioDeviceSettings.relay(
            d.id, pin, active_low=bool(d.active_low), heartbeat_s=d.report_every
        )
    return GpioDeviceSettings.input(
        d.id,
        pin,
        active_low=True if d.active_low is None else d.active_low,
        pull=d.pull,
        debounce_s=0.05 if d.debounce is None else d.debounce,
        heartbeat_s=d.report_every,
    )


class GpioComponent:
    def __init__(
        self,
        settings: GpioBusSettings,
        devices: list[GpioDeviceSettings],
        clock: Clock,
        points: PointTable,
        registry: BusRegistry,
        liveness: Liveness,
    ) -> None:
        self.name = f"bus:{settings.name}"
        self._settings = settings
        self._devices = devices
        self._clock = clock
        self._points = points
        self._registry = registry
        self._liveness = liveness

    async def run(self, ready: Callable[[], None]) -> None:
        from drivers.gpio.bus import GpioBus as GpioDriverBus

        bus = GpioDriverBus.from_settings(
            self._settings, self._devices, clock=self._clock, on_event=self._points.publish
        )
        bus_id = self._settings.name
        async with bus:
            self._registry.buses[bus_id] = bus
            for d in self._devices:
                self._registry.owner[d.name] = bus_id
            self._liveness.register(self.name, allowance_s=max(30.0, 5 * bus.poll_interval_s))
            ready()
            try:
                seen = -1
                while True:
                    # Poll cycles move even while a remote pin server is down: a hung
                    # loop, not an absent server, withholds the watchdog ping.
                    if bus.poll_cycles != seen:
                        self._liveness.beat(self.name)
                    seen = bus.poll_cycles
                    await asyncio.sleep(5)
            finally:
                self._liveness.unregister(self.name)
                if self._registry.buses.get(bus_id) is bus:
                    del self._registry.buses[bus_id]
