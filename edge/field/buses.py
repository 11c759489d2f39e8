"""Modbus buses as daemon components, built from the venue config.

Each `[[buses]]` entry of a Modbus kind becomes one `drivers.modbus.Bus` owning that
link; its events go into the shared PointTable. A bus component is ready once its
poll tasks run (a device that is down at start is reported offline, not an error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec
import structlog

from drivers.modbus.bus import Bus
from drivers.modbus.codec import Value
from drivers.modbus.events import BusEvent, BusStats, WriteResult
from drivers.modbus.links import DeviceConfig, Link, RtuLink, RtuOverTcpLink, TcpLink
from edge.clock import Clock
from edge.config.model import Bus as BusConfig
from edge.config.model import ModbusRtuBus, ModbusRtuTcpBus, ModbusTcpBus, VenueConfig
from edge.field.points import PointTable
from edge.liveness import Liveness
from edge.profiles import ProfileBook

log = structlog.get_logger("edge.field")

ModbusBusConfig = ModbusTcpBus | ModbusRtuBus | ModbusRtuTcpBus


def make_link(b: ModbusBusConfig) -> Link:
    if isinstance(b, ModbusTcpBus):
        return TcpLink(b.host, b.port, concurrency=b.concurrency)
    if isinstance(b, ModbusRtuTcpBus):
        return RtuOverTcpLink(b.host, b.port, baudrate=b.baudrate)
    return RtuLink(b.port, baudrate=b.baudrate, parity=b.parity, stopbits=b.stopbits)


def device_configs(
    cfg: VenueConfig, b: ModbusBusConfig, profiles: ProfileBook
) -> list[DeviceConfig]:
    out = []
    for d in cfg.devices:
        if d.bus != b.id or d.unit_id is None:
            continue
        profile = profiles.resolved(d.profile, d.points)
        out.append(
            DeviceConfig(
                name=d.id,
                unit_id=d.unit_id,
                profile=profile,
                poll_interval_s=d.poll_interval,
                heartbeat_s=d.report_every,
                timeout_s=b.timeout,
                retries=b.retries,
            )
        )
    return out


def modbus_buses(cfg: VenueConfig) -> list[ModbusBusConfig]:
    return [b for b in cfg.buses if isinstance(b, ModbusTcpBus | ModbusRtuBus | ModbusRtuTcpBus)]


def bus_key(cfg: VenueConfig, b: BusConfig) -> bytes:
    """What a bus component depends on: its link and its devices (for reload diffs)."""
    devices = [d for d in cfg.devices if d.bus == b.id]
    return msgspec.json.encode([b, devices])


class FieldBus(Protocol):
    """What the daemon needs of a bus (Modbus or GPIO): writes, a label, counters."""

    stats: BusStats

    @property
    def label(self) -> str: ...

    async def write(self, device: str, point: str, value: Value) -> WriteResult: ...


@dataclass
class BusRegistry:
    """Which bus owns which device, so that writes go to the one owner of the link."""

    buses: dict[str, FieldBus] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)

    def bus_of(self, device: str) -> FieldBus | None:
        name = self.owner.get(device)
        return None if name is None else self.buses.get(name)

    async def write(self, device: str, point: str, value: Value) -> WriteResult:
        bus = self.bus_of(device)
        if bus is None:
            raise LookupError(f"device '{device}' is on no running bus")
        return await bus.write(device, point, value)


class BusComponent:
    def __init__(
        self,
        bus_id: str,
        link: Link,
        devices: list[DeviceConfig],
        clock: Clock,
        points: PointTable,
        registry: BusRegistry,
        liveness: Liveness,
    ) -> None:
        self.name = f"bus:{bus_id}"
        self._bus_id = bus_id
        self._link = link
        self._devices = devices
        self._clock = clock
        self._points = points
        self._registry = registry
        self._liveness = liveness

    def _on_event(self, event: BusEvent) -> None:
        self._points.publish(event)

    async def run(self, ready: Callable[[], None]) -> None:
        bus = Bus(
            self._link, self._devices, name=self._bus_id, clock=self._clock, on_event=self._on_event
        )
        async with bus:
            self._registry.buses[self._bus_id] = bus
            for d in self._devices:
                self._registry.owner[d.name] = self._bus_id
            slowest = max((d.poll_interval_s for d in self._devices), default=1.0)
            self._liveness.register(self.name, allowance_s=max(30.0, 3 * slowest))
            ready()
            log.info(
                "bus_started", bus=self._bus_id, link=bus.link.label, devices=len(self._devices)
            )
            try:
                seen = -1
                while True:
                    # Beat only while transactions move: a hung poll loop withholds the
                    # watchdog ping and systemd restarts the daemon.
                    done = bus.stats.transactions
                    if done != seen or not self._devices:
                        self._liveness.beat(self.name)
                    seen = done
                    await asyncio.sleep(5)
            finally:
                self._liveness.unregister(self.name)
                if self._registry.buses.get(self._bus_id) is bus:
                    del self._registry.buses[self._bus_id]
