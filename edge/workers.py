"""Which components (workers) a venue asks for, each keyed by the part of it they use.

Every component is built by a factory from the venue, the stores and the daemon's
long-lived services, all passed in; nothing is looked up later. On reload the daemon
compares keys: a component whose key did not change keeps running (healthy bus
connections are not dropped); the others are replaced, started or stopped.

Start order: the store writers (journal, reconciler, alarm engine, uplink feed), the
buses, emergency, counters, alarms, energy, automation, gates, the uplink session and
the control socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from edge.alarms import AlarmService, kernel_clock_synced, zone_wanted_from
from edge.automation.emergency import EmergencyWatcher
from edge.automation.engine import Automation
from edge.clock import Clock, SyncReporting, field_clock
from edge.config.model import SerialLineBus, TcpLineBus
from edge.control.handlers import control_handlers
from edge.control.server import ControlServer
from edge.counters import CounterWorker
from edge.energy import EnergyService, window_with_prestarts
from edge.feed import Feed, FeedComponent
from edge.field.buses import BusComponent, bus_key, device_configs, make_link, modbus_buses
from edge.field.gpio import GpioComponent, gpio_buses, gpio_devices, gpio_settings
from edge.field.network import NetworkComponent, network_buses, network_devices
from edge.inventory import birth
from edge.liveness import Liveness
from edge.ops import Operations
from edge.storage_watch import StorageWatch
from edge.stores import Stores
from edge.summary import SummaryComponent
from edge.supervisor import Component, Factory
from edge.uplink import BirthBody, Uplink
from edge.uplink.session import Inbound
from edge.venue import Venue, VenueRef


@dataclass(frozen=True)
class Spec:
    key: bytes
    make: Factory


@dataclass(frozen=True)
class Services:
    """The daemon's long-lived parts the workers are built with."""

    clock: Clock
    liveness: Liveness
    ops: Operations
    inbound: Inbound
    feed: Feed
    venue: VenueRef
    config_version: Callable[[], int]


def _key(*parts: Any) -> bytes:
    return msgspec.json.encode(parts)


class Runner:
    """A store's own loop run as a component (restarted like any other)."""

    def __init__(self, name: str, run: Callable[[Callable[[], None]], Awaitable[None]]) -> None:
        self.name = name
        self._run = run

    async def run(self, ready: Callable[[], None]) -> None:
        await self._run(ready)


class UplinkComponent:
    """The MQTT session for the venue's `[uplink]`, on the outbox store."""

    name = "uplink"

    def __init__(self, venue: Venue, stores: Stores, services: Services) -> None:
        self._venue = venue
        self._stores = stores
        self._services = services

    async def _birth(self) -> BirthBody:
        # The inventory of the venue in force: a reload may change devices, not the session.
        venue = self._services.venue.get()
        return birth(venue, self._stores.points, self._services.config_version())

    async def run(self, ready: Callable[[], None]) -> None:
        cfg, stores = self._venue.config, self._stores
        async with Uplink(
            cfg.uplink,
            site=cfg.site.id,
            gateway=cfg.site.gateway,
            db=stores.db,
            clock=self._services.clock,
            outbox=stores.outbox,
            inbound=self._services.inbound,
            birth=self._birth,
            link=stores.link,
        ) as uplink:
            ready()
            await _beat_while(uplink.alive, self._services.liveness, self.name)


UPLINK_ALLOWANCE_S = 30.0


async def _beat_while(alive: Callable[[], bool], liveness: Liveness, name: str) -> None:
    """Beat `name` while `alive()`: a connection task that died withholds the watchdog."""
    liveness.register(name, allowance_s=UPLINK_ALLOWANCE_S)
    try:
        while True:
            if alive():
                liveness.beat(name)
            await asyncio.sleep(UPLINK_ALLOWANCE_S / 6)
    finally:
        liveness.unregister(name)


async def _engine_loop(stores: Stores, ready: Callable[[], None]) -> None:
    ready()
    await stores.alarms.serve()


def plan(venue: Venue, stores: Stores, services: Services) -> dict[str, Spec]:
    """The components for `venue`, in start order."""
    cfg, site, clock = venue.config, venue.site, services.clock
    s = stores
    specs: dict[str, Spec] = {
        "journal": Spec(b"", lambda: Runner("journal", s.journal.run)),
        "reconciler": Spec(b"", lambda: Runner("reconciler", s.outputs.run)),
        "alarm_engine": Spec(
            b"", lambda: Runner("alarm_engine", lambda ready: _engine_loop(s, ready))
        ),
        "feed": Spec(
            _key(cfg.uplink.state_window_ms, cfg.uplink.state_refresh_s),
            lambda: FeedComponent(services.feed, clock, cfg.uplink),
        ),
        "storage": Spec(b"", lambda: StorageWatch(s, clock, services.liveness)),
    }
    for b in modbus_buses(cfg):

        def make_bus(b: Any = b) -> Component:
            return BusComponent(
                b.id, make_link(b), device_configs(cfg, b, venue.profiles), field_clock(clock),
                s.points, s.buses, services.liveness,
            )  # fmt: skip

        specs[f"bus:{b.id}"] = Spec(bus_key(cfg, b), make_bus)
    for g in gpio_buses(cfg):
        specs[f"bus:{g.id}"] = Spec(
            bus_key(cfg, g),
            lambda g=g: GpioComponent(  # type: ignore[misc]
                gpio_settings(g), gpio_devices(cfg, g), field_clock(clock),
                s.points, s.buses, services.liveness,
            ),
        )  # fmt: skip
    for n in network_buses(cfg):
        specs[f"bus:{n.id}"] = Spec(
            bus_key(cfg, n),
            lambda n=n: NetworkComponent(  # type: ignore[misc]
                n, network_devices(cfg, n), field_clock(clock), s.points, services.liveness
            ),
        )
    specs["emergency"] = Spec(
        _key(site.emergency, site.zones),
        lambda: EmergencyWatcher(site, s.points, s.outputs, s.emergency),
    )
    specs["counters"] = Spec(b"", lambda: CounterWorker(s.counters, s.points, s.outputs, clock))
    uplink = cfg.uplink

    def make_alarms() -> Component:
        return AlarmService(
            cfg,
            cfg.alarms,
            s.alarms,
            clock,
            s.points,
            bookings=s.bookings.snapshot,
            zone_wanted=zone_wanted_from(site, lambda: s.automation.last),
            counters=s.counters.snapshot,
            outbox_fill=lambda: (s.outbox.depth, uplink.outbox_max_messages),
            clock_synced=clock.synced if isinstance(clock, SyncReporting) else kernel_clock_synced,
            link=s.link,
            roles=venue.roles,
        )

    specs["alarms"] = Spec(
        _key(cfg.alarms, cfg.devices, cfg.zones, cfg.access, uplink.outbox_max_messages, site),
        make_alarms,
    )
    specs["energy"] = Spec(
        _key(cfg.energy, cfg.devices, cfg.zones, cfg.site.timezone, site),
        lambda: EnergyService(
            cfg, cfg.energy, s.db, clock, points=s.points, bookings=s.bookings.snapshot,
            window=window_with_prestarts(site, s.automation.prestart_of), records=s.energy,
            profiles=venue.profiles,
        ),
    )  # fmt: skip
    specs["automation"] = Spec(
        _key(site, venue.labels),
        lambda: Automation(
            site, venue.labels, clock, s.points, s.outputs, s.bookings, s.overrides,
            s.automation, s.emergency, s.access, services.liveness,
        ),
    )  # fmt: skip
    if cfg.access.gates:
        lines = [b for b in cfg.buses if isinstance(b, SerialLineBus | TcpLineBus)]
        gate_devices = {g.device for g in cfg.access.gates}

        def gates() -> Component:
            # Imported here: a venue without gates never loads the readers and line drivers.
            from edge.gate_readers import GateComponent

            return GateComponent(
                cfg, venue.gates, clock, s.db, s.bookings, s.outputs, s.emergency, s.access,
                s.access_loss,
            )  # fmt: skip

        specs["gates"] = Spec(
            _key(
                cfg.site.id, cfg.access, cfg.zones, lines,
                [d for d in cfg.devices if d.id in gate_devices],
            ),
            gates,
        )  # fmt: skip
    specs["summary"] = Spec(b"", lambda: SummaryComponent(services.venue, s, clock))
    specs["uplink"] = Spec(
        _key(uplink, cfg.site.id, cfg.site.gateway),
        lambda: UplinkComponent(venue, stores, services),
    )
    runtime_dir = Path(cfg.storage.runtime_dir)
    specs["control"] = Spec(
        _key(cfg.storage.runtime_dir),
        lambda: ControlServer(runtime_dir, control_handlers(services.ops)),
    )
    return specs
