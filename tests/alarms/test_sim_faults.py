"""Every field detector, raised by the simulator's fault injection and cleared when it goes.

The real daemon runs in this process on a stepped clock against the simulated venue
(real Modbus TCP): a hot July afternoon, court 1 booked 14:00-17:00. Each fault is
injected through `venue.fault` (or the venue's occupancy), the alarm must become
active, and after the fault is healed it must clear (latching classes: `returned`, then
acknowledged as a technician would). Outbox, storage and clock alarms have no simulated
device behind them; tests/alarms/test_detectors.py injects those at their source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.automation.reconciler import Cause
from edge.clock import SimClock
from edge.daemon import Daemon
from edge.gates import pulse_gate
from sim.broker import MosquittoBroker
from sim.venue import SimVenue
from tests.simday import daemon_on, devices_toml, quiet, site_header

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 7, 15, tzinfo=TZ)


def at(hh: int, mm: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm)


VENUE = """
[[zones]]
id = "hall-a"
kind = "hall"
target_temp_c = 25.0
hvac = ["ahu-a"]
sensors = ["env-a"]

[[zones]]
id = "court-1"
kind = "court"
parent = "hall-a"
lights = ["lights-c1.ch1_on", "lights-c1.ch2_on"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = 1502
timeout = 0.2
retries = 0

[access]
gates = [{ id = "court-door", device = "gate-1", zones = ["court-1"] }]

[alarms]
tick_s = 5
comm_lost_after_s = 30
lamp_delay_s = 15
env_delay_s = 60
door_open_max_s = 60
lights_left_on_after_s = 120
hvac_ready_after_min = 10
hvac_tolerance_k = 0.3
temp_max_c = 25.6
co2_max_ppm = 1000

[alarms.maintenance.lights-c1]
cycles = 1
"""
DEVICES = [
    ("ahu-a", "hvac_fancoil", "hall-a"),
    ("env-a", "env_sensor", "hall-a"),
    ("lights-c1", "lighting_8ch", "court-1"),
    ("meter-c1", "energy_meter", "court-1"),
    ("gate-1", "gate_controller", "court-1"),
]
BOOKINGS = [("b1", "court-1", at(14), at(17), "confirmed")]


def venue_toml(state: Path, run: Path) -> str:
    return site_header("faults", state, run) + VENUE + devices_toml(DEVICES, "tcp-1", 5)


class Day:
    def __init__(self, venue: SimVenue, clock: SimClock, daemon: Daemon) -> None:
        assert daemon.stores is not None
        self.venue, self.clock, self.daemon = venue, clock, daemon
        self.stores = daemon.stores
        self.alarms = daemon.stores.alarms
        self.seen: list[tuple[str, str, str]] = []
        self.alarms.subscribe(
            lambda ev: self.seen.append(
                (ev.alarm_id, ev.state.value, ev.ts.astimezone(TZ).strftime("%H:%M:%S"))
            )
        )

    def state(self, alarm_id: str) -> str | None:
        rec = self.alarms.get(alarm_id)
        return None if rec is None else rec.state.value

    async def step(self, seconds: float = 5.0) -> None:
        await self.clock.advance(seconds)
        await quiet(self.daemon)
        await asyncio.sleep(0.01)  # a unit that does not answer times out in real time

    async def until(self, what: str, cond: Callable[[], bool], by: datetime) -> None:
        while not cond():
            assert self.clock.now() < by, f"{what}: not by {by:%H:%M} (seen: {self.seen})"
            await self.step()

    async def until_state(self, alarm_id: str, state: str, by: datetime) -> None:
        await self.until(f"{alarm_id} {state}", lambda: self.state(alarm_id) == state, by)

    async def run_to(self, t: datetime) -> None:
        while self.clock.now() < t:
            await self.step(min(30.0, (t - self.clock.now()).total_seconds()))


async def test_every_field_detector_through_simulated_faults(tmp_path: Path) -> None:
    state, run = tmp_path / "state", tmp_path / "run"
    state.mkdir()
    src = tmp_path / "venue.toml"
    src.write_text(venue_toml(state, run))
    clock = SimClock(at(12, 30))
    async with (
        SimVenue.from_config(src, clock, workdir=tmp_path / "sim") as venue,
        daemon_on(venue, clock, BOOKINGS) as daemon,
    ):
        day = Day(venue, clock, daemon)
        await quiet(daemon)
        assert daemon.stores is not None
        drives = daemon.venue.get().gates

        # A sensor stops answering.
        await venue.fault("offline", "env-a")
        await day.until_state("comm_lost:env-a", "active", at(12, 35))
        await venue.fault("heal", "env-a")
        await day.until_state("comm_lost:env-a", "cleared", at(12, 40))

        # The door is forced, then held open after a legitimate unlock.
        await venue.fault("door_forced", "gate-1")
        await day.until_state("door_forced:gate-1", "active", at(12, 45))
        await venue.fault("door_forced", "gate-1", on=False)
        await day.until_state("door_forced:gate-1", "returned", at(12, 50))
        day.alarms.ack("door_forced:gate-1", "technician")
        assert day.state("door_forced:gate-1") == "cleared"
        await venue.fault("door_held", "gate-1")
        cause = Cause("technician", "court-door", actor="technician:test")
        assert await pulse_gate(daemon.stores.outputs, drives, "court-door", cause)
        await day.until_state("door_held_open:gate-1", "active", at(13, 0))
        await venue.fault("door_held", "gate-1", on=False)
        await day.until_state("door_held_open:gate-1", "cleared", at(13, 5))

        # An event crowd in the hall: CO2 climbs faster than the air handler's fresh air.
        venue.set_occupancy("hall-a", 3000)
        await day.until_state("co2_high:env-a.co2", "active", at(13, 30))
        venue.set_occupancy("hall-a", None)
        await day.until_state("co2_high:env-a.co2", "cleared", at(13, 50))

        # The court lights come on for the booking: one switch cycle is the limit here,
        # and the technician's reset after service clears it.
        await day.until_state("maintenance_due:lights-c1.ch1_on", "active", at(14, 0))
        daemon.stores.counters.reset("lights-c1.ch1_on")
        await day.until_state("maintenance_due:lights-c1.ch1_on", "cleared", at(14, 1))

        # A lamp fails during the booking.
        await venue.fault("lamp_failure", "lights-c1", channel=1)
        await day.until_state("lamp_failure:lights-c1.ch1", "active", at(14, 5))
        await venue.fault("lamp_failure", "lights-c1", channel=1, on=False)
        await day.until_state("lamp_failure:lights-c1.ch1", "returned", at(14, 10))
        day.alarms.ack("lamp_failure:lights-c1.ch1", "technician")

        # The hall was hot before the air handler caught up (weather, not a fault): that
        # alarm has cleared. Then the air handler fails and the hall drifts away from its
        # 25 C target (tolerance 0.3 K here) and past 25.6 C.
        await day.until_state("temperature_range:env-a.temperature", "cleared", at(14, 15))
        await day.run_to(at(14, 15))
        await venue.fault("hvac_fault", "ahu-a", code=3)
        await day.until_state("hvac_not_ready:ahu-a", "active", at(15, 15))
        await day.until_state("temperature_range:env-a.temperature", "active", at(16, 0))
        await venue.fault("heal", "ahu-a")
        await day.until_state("hvac_not_ready:ahu-a", "cleared", at(16, 45))
        await day.until_state("temperature_range:env-a.temperature", "cleared", at(16, 45))

        # After the booking a contactor welds: court 1 keeps drawing with nobody booked.
        await day.run_to(at(17, 15))
        await venue.fault("stuck_on", "lights-c1", channel=1)
        await day.until_state("lights_left_on:court-1", "active", at(17, 25))
        await venue.fault("heal", "lights-c1")
        await day.until_state("lights_left_on:court-1", "cleared", at(17, 35))

    print("alarm transitions:", day.seen)


async def test_outbox_high_when_the_simulated_broker_stops(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """`broker_stop`: state piles up in the outbox past 80 % of its bound (100 here) and
    outbox_high is raised; `broker_start`: the backlog drains and it clears."""
    state, run = tmp_path / "state", tmp_path / "run"
    state.mkdir()
    src = tmp_path / "venue.toml"
    src.write_text(
        venue_toml(state, run)
        + "\n[uplink]\noutbox_max_messages = 100\n"
        + "\n[alarms.classes.outbox_high]\ndelay_off_s = 5\n"
    )
    clock = SimClock(at(12, 30))
    async with (
        SimVenue.from_config(
            src, clock, workdir=tmp_path / "sim", broker=mosquitto,
            uplink=(mosquitto.host, mosquitto.port),
        ) as venue,
        daemon_on(venue, clock, BOOKINGS) as daemon,
    ):  # fmt: skip
        day = Day(venue, clock, daemon)
        stores = day.stores
        await day.until("uplink connected", lambda: stores.link.connected, at(12, 35))
        await venue.fault("broker_stop")
        await day.until_state("outbox_high:uplink", "active", at(14, 30))
        bound = daemon.venue.get().config.uplink.outbox_max_messages
        assert bound == 100 and stores.outbox.depth >= 0.8 * bound
        await venue.fault("broker_start")
        await day.until_state("outbox_high:uplink", "cleared", at(15, 0))
    print("outbox transitions:", [s for s in day.seen if s[0].startswith("outbox")])
