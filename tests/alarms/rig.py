"""Simulated devices on a real Modbus TCP server, the real bus, and the alarm service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from drivers.modbus.bus import Bus
from drivers.modbus.codec import Value
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.profiles import load_profile
from edge.alarms import (
    AlarmEngine,
    AlarmEvent,
    AlarmsConfig,
    AlarmService,
    ClassOverride,
    configure_engine,
)
from edge.alarms.classes import builtin_classes
from edge.clock import SystemClock
from edge.config.model import Device, ModbusTcpBus, Site, VenueConfig, Zone
from edge.field.points import PointTable
from edge.storage import Database
from sim.modbus import RegisterBank, SimUnit, serve_tcp

DEVICES = {
    "lights-1": ("lighting_8ch", 1, "court-1"),
    "gate-1": ("gate_controller", 2, "court-1"),
    "env-1": ("env_sensor", 3, "hall"),
    "hvac-1": ("hvac_fancoil", 4, "hall"),
    "m-c1": ("energy_meter", 5, "court-1"),
}


def venue() -> VenueConfig:
    return VenueConfig(
        site=Site(id="s", gateway="g", timezone="Asia/Shanghai"),
        zones=[
            Zone(id="hall", kind="hall", hvac=["hvac-1"], sensors=["env-1"]),
            Zone(id="court-1", kind="court", parent="hall",
                 lights=["lights-1.ch1_on", "lights-1.ch2_on"]),
        ],
        buses=[ModbusTcpBus(id="tcp-1", host="127.0.0.1")],
        devices=[Device(id=d, profile=p, bus="tcp-1", unit_id=u, zone=z)
                 for d, (p, u, z) in DEVICES.items()],
    )  # fmt: skip


def quick_config(**extra: object) -> AlarmsConfig:
    """No debounce, so tests see each transition as soon as the bus polls it."""
    no_delay = {
        n: ClassOverride(delay_on_s=0, delay_off_s=0) for n in builtin_classes(AlarmsConfig())
    }
    args: dict[str, object] = dict(
        tick_s=0.05, comm_lost_after_s=0, lamp_delay_s=0, env_delay_s=0,
        lights_left_on_after_s=0, door_open_max_s=0.5, hvac_ready_after_min=0,
        clock_unsynced_after_s=0, classes=no_delay,
    )  # fmt: skip
    args.update(extra)
    return AlarmsConfig(**args)  # type: ignore[arg-type]


@dataclass
class Booking:
    booking_id: str
    zone: str
    start: datetime
    end: datetime
    status: str = "confirmed"


@dataclass
class Sources:
    """What the lead would supply; tests change them at will."""

    bookings: list[Booking] = field(default_factory=list)
    wanted: set[str] = field(default_factory=set)
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    outbox: tuple[int, int] = (0, 1000)
    synced: bool | None = True


@dataclass
class AlarmRig:
    banks: dict[str, RegisterBank]
    units: dict[str, SimUnit]
    service: AlarmService
    sources: Sources
    events: list[AlarmEvent]

    def set(self, device: str, point: str, value: Value) -> None:
        """Put an engineering value into the simulated device's registers."""
        spec = load_profile(DEVICES[device][0]).point(point)
        assert spec is not None
        self.banks[device].set_point(spec, value)

    def state(self, alarm_id: str) -> str | None:
        rec = self.service.engine.get(alarm_id)
        return None if rec is None else rec.state.value

    async def until_state(self, alarm_id: str, *states: str, timeout_s: float = 10.0) -> None:
        await until(lambda: self.state(alarm_id) in states, timeout_s)


async def until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def open_engine(db: Database, cfg: AlarmsConfig) -> AlarmEngine:
    """The engine store as the daemon opens it."""
    engine = AlarmEngine(db, SystemClock(), {})
    configure_engine(engine, cfg)
    await engine.load()
    return engine


@asynccontextmanager
async def alarm_rig(tmp_path: Path, cfg: AlarmsConfig | None = None) -> AsyncIterator[AlarmRig]:
    banks = {d: RegisterBank() for d in DEVICES}
    units = {d: SimUnit(u, banks[d]) for d, (_, u, _) in DEVICES.items()}
    configs = [
        DeviceConfig(d, u, load_profile(p), poll_interval_s=0.05, timeout_s=0.2,
                     probe_min_s=0.1, probe_max_s=0.2)
        for d, (p, u, _) in DEVICES.items()
    ]  # fmt: skip
    clock = SystemClock()
    points = PointTable()
    db = Database.open(tmp_path / "edge.db")
    src = Sources()
    engine = await open_engine(db, cfg or quick_config())
    service = AlarmService(
        venue(), cfg or quick_config(), engine, clock, points,
        bookings=lambda: src.bookings,
        zone_wanted=lambda zone, t: zone in src.wanted,
        counters=lambda: src.counters,
        outbox_fill=lambda: src.outbox,
        clock_synced=lambda: src.synced,
    )  # fmt: skip
    events: list[AlarmEvent] = []
    engine.subscribe(events.append)
    async with serve_tcp(list(units.values())) as server:
        link = TcpLink("127.0.0.1", server.port)
        async with Bus(link, configs, clock=clock, on_event=points.publish):
            ready = asyncio.Event()
            tasks = [
                asyncio.create_task(service.run(ready.set)),
                asyncio.create_task(engine.serve()),
            ]
            await asyncio.wait_for(ready.wait(), 10)
            await until(lambda: points.get("m-c1.import_kwh") is not None)
            try:
                yield AlarmRig(banks, units, service, src, events)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    db.close()
