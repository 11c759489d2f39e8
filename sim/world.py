"""The simulated venue's physics: devices, the air of each zone, meters, all on one clock.

`World.advance()` brings everything up to the clock's now in one step:
1. meters (and each load's own counter) integrate the power each load has drawn since the
   last step, which is constant in between (cached after the previous step or write);
2. the air of each zone moves (temperature, CO2) under outdoor weather, HVAC and people;
3. devices move their own state (timers, run hours) and publish it to their registers.
A master write first advances the world to the instant of the write, so energy before
the write is counted at the old power: the ground truth is exact, not sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import structlog

from drivers.clock import Clock
from drivers.modbus.codec import Value
from drivers.modbus.errors import ModbusDriverError
from drivers.modbus.points import PointSpec
from drivers.modbus.profiles import load_profile, resolve
from edge.config.model import VenueConfig
from sim.air import AirZone
from sim.devices.base import Instant, SimDevice, bank_for
from sim.devices.env import EnvSensor
from sim.devices.fire import FirePanel
from sim.devices.fire_gateway import FireGateway
from sim.devices.gate import GateController
from sim.devices.hvac import FanCoil
from sim.devices.lights import LightingController
from sim.devices.meter import EnergyMeter
from sim.errors import SimConfigError
from sim.params import SimParams
from sim.topology import LOAD_PROFILES, Topology, build
from sim.weather import DayCurve

log = structlog.get_logger("sim.world")
T = TypeVar("T")

#: Profiles the simulator has a behaviour for.
SIMULATED_PROFILES = (
    "energy_meter",
    "env_sensor",
    "fire_gateway",
    "fire_panel",
    "gate_controller",
    "hvac_fancoil",
    "lighting_8ch",
)


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One master write as the device saw it: which points, which values afterwards."""

    wall: datetime
    mono: float
    device: str
    values: dict[str, Value]


class World:
    def __init__(self, config: VenueConfig, params: SimParams, clock: Clock) -> None:
        self.config = config
        self.params = params
        self.clock = clock
        self.curve = DayCurve(params.weather, config.site.timezone)
        self.topology: Topology = build(config, {m: p.loads for m, p in params.meters.items()})
        self.devices: dict[str, SimDevice] = {}
        self.unsimulated: dict[str, str] = {}
        """Devices of the config with no behaviour here: device id -> why."""
        self.air: dict[str, AirZone] = {}
        self.occupancy: dict[str, float] = {}
        """Explicit occupants per zone (set by tests/demo), over the lights-based default."""
        self.energy_j: dict[str, float] = {}
        """Ground-truth energy per load device since start (J)."""
        self.writes: list[WriteRecord] = []
        self._power: dict[str, float] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._running = False
        start = Instant(clock.monotonic(), clock.now())
        self.t = start.mono
        outdoor = self.curve.at(start.wall)
        for z in config.zones:
            air_id = self.topology.air_of[z.id]
            if air_id not in self.air:
                zp = params.zone(air_id, self.topology.kind[air_id])
                temp = zp.initial_c if zp.initial_c is not None else outdoor + zp.initial_offset_c
                self.air[air_id] = AirZone(air_id, zp, temp, params.weather.outdoor_co2_ppm)
        self._build_devices()
        for dev in self.devices.values():
            self._power[dev.id] = dev.power_w()
            dev.refresh(start)
        self.refresh_meters(start)

    # Construction.
    def _build_devices(self) -> None:
        for d in self.config.devices:
            if d.profile in ("gpio_relay", "gpio_input"):
                continue  # served with their bus (sim/gpio_site.py)
            if d.profile not in SIMULATED_PROFILES:
                self.unsimulated[d.id] = f"no simulated behaviour for profile {d.profile!r}"
                continue
            try:
                profile = resolve(load_profile(d.profile), d.points)
            except ModbusDriverError as exc:
                raise SimConfigError(f"device {d.id}", str(exc)) from exc
            bank = bank_for(profile)
            dev: SimDevice
            if d.profile == "lighting_8ch":
                dev = LightingController(d.id, profile, bank, self.params.light(d.id))
            elif d.profile == "hvac_fancoil":
                dev = FanCoil(d.id, profile, bank, self.params.hvac_of(d.id), self._air_for(d.zone))
                # edged's buses run on wire time even when the venue runs accelerated, so
                # the BMS watchdog (a communication timeout) counts wire seconds too.
                rate = getattr(self.clock, "rate", None)
                dev.comm_scale = float(rate) if isinstance(rate, int | float) and rate > 0 else 1.0
            elif d.profile == "energy_meter":
                loads = self.topology.meter_loads.get(d.id, [])
                dev = EnergyMeter(
                    d.id, profile, bank, self.params.meter(d.id), self._sum_power(loads), loads
                )
            elif d.profile == "gate_controller":
                dev = GateController(d.id, profile, bank, self.params.gate)
            elif d.profile == "fire_panel":
                dev = FirePanel(d.id, profile, bank)
            elif d.profile == "fire_gateway":
                dev = FireGateway(d.id, profile, bank)
            else:
                dev = EnvSensor(d.id, profile, bank, self._air_for(d.zone))
            dev.schedule = self.schedule
            bank.on_write(self._hook(dev))
            self.devices[d.id] = dev
            if d.profile in LOAD_PROFILES:
                self.energy_j[d.id] = 0.0

    def _air_for(self, zone: str | None) -> AirZone:
        if zone is None:
            # Equipment placed in no zone still needs air: a shared "site" air volume.
            if "_site" not in self.air:
                first = next(iter(self.air.values()), None)
                temp = first.temp_c if first else self.curve.at(self.clock.now())
                self.air["_site"] = AirZone(
                    "_site",
                    self.params.zone("_site", "hall"),
                    temp,
                    self.params.weather.outdoor_co2_ppm,
                )
            return self.air["_site"]
        return self.air[self.topology.air_of[zone]]

    def _sum_power(self, loads: list[str]) -> Callable[[], float]:
        return lambda: sum(self._power.get(x, 0.0) for x in loads)

    # Time.
    def instant(self) -> Instant:
        return Instant(self.clock.monotonic(), self.clock.now())

    def advance(self, refresh: bool = True) -> Instant:
        """Bring the whole venue up to the clock's now; returns that instant.

        `refresh=False` (a master write) leaves registers to the next step or timer: physics
        and energy are still exact, only publishing every register is skipped (it is the
        expensive part, and a busy master writes a watchdog several times a second).
        """
        now = self.instant()
        dt = max(0.0, now.mono - self.t)
        self.t = max(self.t, now.mono)
        if dt > 0:
            for dev_id in self.energy_j:
                self.energy_j[dev_id] += self._power.get(dev_id, 0.0) * dt
            for dev in self.devices.values():
                if isinstance(dev, EnergyMeter):
                    dev.integrate(dt, dev.loads())
            outdoor = self.curve.at(now.wall)
            self._update_people()
            for air in self.air.values():
                air.step(dt, outdoor, self.params.weather.outdoor_co2_ppm)
        for dev in self.devices.values():
            dev.advance(now, dt)
            self._power[dev.id] = dev.power_w()
        if refresh:
            for dev in self.devices.values():
                dev.refresh(now)
        return now

    def refresh_meters(self, now: Instant, load: str | None = None) -> None:
        """Publish the meters (only those metering `load` when given)."""
        for dev in self.devices.values():
            if isinstance(dev, EnergyMeter) and (load is None or load in dev.load_ids):
                dev.refresh(now)

    def mutate(self, device_id: str, change: Callable[[SimDevice], T]) -> T:
        """Apply `change` to a device at the current instant (faults, scripted events)."""
        now = self.advance()
        dev = self.devices[device_id]
        result = change(dev)
        dev.advance(now, 0.0)
        self._power[dev.id] = dev.power_w()
        dev.refresh(now)
        self.refresh_meters(now)
        return result

    def _hook(self, dev: SimDevice) -> Callable[[str, int, list[int] | list[bool]], None]:
        def on_write(table: str, address: int, values: list[int] | list[bool]) -> None:
            # The bank already holds the new values; energy up to now must use the old power,
            # which is the cached one, so advancing first is still exact.
            now = self.advance(refresh=False)
            points = dev.touched(table, address, len(values))
            try:
                dev.on_master_write(now, points)
            except Exception:  # a behaviour bug must not kill the Modbus server
                log.exception("behaviour_failed", device=dev.id)
            self._power[dev.id] = dev.power_w()
            dev.refresh(now)
            self.refresh_meters(now, dev.id)
            self.writes.append(WriteRecord(now.wall, now.mono, dev.id, _values(dev, points)))

        return on_write

    def _update_people(self) -> None:
        people = dict.fromkeys(self.air, 0.0)
        for zone, air_id in self.topology.air_of.items():
            people[air_id] += self.people_in(zone)
        for air_id, n in people.items():
            self.air[air_id].people = n

    def people_in(self, zone: str) -> float:
        if zone in self.occupancy:
            return self.occupancy[zone]
        if self.zone_lit(zone):
            return self.params.zone(zone, self.topology.kind[zone]).people_when_occupied
        return 0.0

    def zone_lit(self, zone: str) -> bool:
        for dev_id, ch in self.topology.lights_of.get(zone, []):
            dev = self.devices.get(dev_id)
            if isinstance(dev, LightingController) and ch in dev.channels and dev.lit(ch):
                return True
        return False

    # Timers.
    def schedule(self, at_mono: float) -> None:
        """Advance the world at `at_mono` (a gate pulse's end) rather than at the next tick."""
        if not self._running:
            return
        task = asyncio.get_running_loop().create_task(self._timer(at_mono))
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _timer(self, at_mono: float) -> None:
        await self.clock.sleep(at_mono - self.clock.monotonic())
        self.advance()

    async def _ticks(self) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
            self.advance()

    @property
    def tick_s(self) -> float:
        rate = getattr(self.clock, "rate", None)
        # Accelerated: about ten steps per real second is plenty and keeps the CPU free.
        if isinstance(rate, int | float) and rate > 0:
            return max(self.params.tick_s, rate * 0.1)
        return self.params.tick_s

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[World]:
        """Step the world on its clock until the block exits."""
        self._running = True
        ticker = asyncio.get_running_loop().create_task(self._ticks(), name="sim-ticks")
        try:
            yield self
        finally:
            self._running = False
            ticker.cancel()
            for t in list(self._timers):
                t.cancel()
            await asyncio.gather(ticker, *self._timers, return_exceptions=True)


def _values(dev: SimDevice, points: list[PointSpec]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for p in points:
        try:
            out[p.name] = dev.bank.get_point(p)
        except ModbusDriverError:
            out[p.name] = "<undecodable>"
    return out
