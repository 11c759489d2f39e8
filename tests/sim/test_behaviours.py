"""Device behaviours and physics on a stepped clock: writes go through the bank as a master's do."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

import pytest

from edge.clock import SimClock
from edge.config.model import VenueConfig
from sim.devices.gate import GateController
from sim.devices.hvac import FanCoil
from sim.devices.lights import LightingController
from sim.devices.meter import EnergyMeter
from sim.params import SimParams, Weather, Zone
from sim.weather import DayCurve
from sim.world import World

from .conftest import SHANGHAI


def lights(w: World) -> LightingController:
    dev = w.devices["lights-1"]
    assert isinstance(dev, LightingController)
    return dev


def hvac(w: World) -> FanCoil:
    dev = w.devices["hvac-1"]
    assert isinstance(dev, FanCoil)
    return dev


def meter(w: World) -> EnergyMeter:
    dev = w.devices["meter-1"]
    assert isinstance(dev, EnergyMeter)
    return dev


def gate(w: World) -> GateController:
    dev = w.devices["gate-1"]
    assert isinstance(dev, GateController)
    return dev


async def advance(w: World, seconds: float) -> None:
    clock = w.clock
    assert isinstance(clock, SimClock)
    await clock.advance(seconds)
    w.advance()


async def test_hvac_pulls_the_room_to_its_setpoint(world: World) -> None:
    """Running at 25 C the hall cools at most max_rate per hour and settles near 25 C."""
    h = hvac(world)
    start = world.air["hall"].temp_c
    assert start > 27.0  # an evening after a warm day
    h.bank.master_write("holding", 1, [250])
    h.bank.master_write("coil", 0, [True])
    await advance(world, 600)
    assert start - world.air["hall"].temp_c <= 6.0 / 6 + 0.05  # capacity: 6 K/h
    temps = []
    for _ in range(18):
        await advance(world, 600)
        temps.append(world.air["hall"].temp_c)
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(temps))
    assert temps[-1] == pytest.approx(25.0, abs=0.2)
    assert h.bank.get_point(h.point("room_temp")) == pytest.approx(temps[-1], abs=0.051)
    assert h.bank.get_point(h.point("run_hours")) == 3


async def test_room_drifts_to_outdoor_with_the_envelope_time_constant(
    minimal_config: VenueConfig, clock: SimClock
) -> None:
    """HVAC off: the gap to a constant outdoor temperature decays as exp(-t / tau)."""
    params = SimParams(
        tick_s=60.0,
        weather=Weather(min_c=20.0, max_c=20.0),
        zones={"hall": Zone(initial_c=35.0, envelope_time_constant_h=8.0)},
    )
    w = World(minimal_config, params, clock)
    async with w.running():
        await advance(w, 8 * 3600)
    assert w.air["hall"].temp_c == pytest.approx(20 + 15 * math.exp(-1), abs=0.02)


async def test_meter_integrates_light_power_exactly(world: World) -> None:
    """Two 400 W channels for an hour, then three for half an hour: 1.4 kWh exactly."""
    m, lt = meter(world), lights(world)
    lt.bank.master_write("coil", 0, [True, True])
    await advance(world, 3600)
    assert m.true_kwh == pytest.approx(0.8, abs=1e-9)
    lt.bank.master_write("coil", 2, [True])
    await advance(world, 1800)
    assert m.true_kwh == pytest.approx(1.4, abs=1e-9)
    assert world.energy_j["lights-1"] / 3.6e6 == pytest.approx(1.4, abs=1e-9)
    assert m.bank.get_point(m.point("import_kwh")) == pytest.approx(1.4)
    assert m.bank.get_point(m.point("power_w")) == 1200


async def test_energy_before_a_write_counts_at_the_old_power(world: World) -> None:
    """A write between ticks splits the interval exactly at the write instant."""
    m, lt = meter(world), lights(world)
    lt.bank.master_write("coil", 0, [True])
    await advance(world, 0.25)  # less than one tick
    lt.bank.master_write("coil", 0, [False])
    await advance(world, 10)
    assert m.true_kwh == pytest.approx(400 * 0.25 / 3.6e6, rel=1e-12)


async def test_meter_rollover_and_reset(world: World) -> None:
    """The uint32 0.1 kWh counter wraps to small values and a reset restarts it; truth goes on."""
    m, lt = meter(world), lights(world)
    world.mutate("meter-1", lambda d: d.preset_before_rollover(0.5))
    assert m.bank.get_input(0, 2) == [0xFFFF, 0xFFFB]  # 2**32 - 5 counts of 0.1 kWh
    lt.bank.master_write("coil", 0, [True, True])
    await advance(world, 3600)  # 0.8 kWh: 0.5 to the wrap, 0.3 after it
    assert m.bank.get_point(m.point("import_kwh")) == pytest.approx(0.3)
    world.mutate("meter-1", lambda d: d.reset())
    assert m.bank.get_point(m.point("import_kwh")) == 0
    await advance(world, 1800)
    assert m.bank.get_point(m.point("import_kwh")) == pytest.approx(0.4)
    assert m.true_kwh == pytest.approx(1.2, abs=1e-9)


async def test_gate_pulse_opens_the_door_for_exactly_pulse_s(world: World) -> None:
    """Relay true: door open until exactly pulse_s later; the relay reads back false after."""
    g = gate(world)
    g.bank.master_write("coil", 0, [True])
    assert g.bank.get_discrete(0, 3) == [True, False, False]
    await advance(world, 2.999)
    assert g.bank.get_discrete(0) == [True]
    assert g.bank.get_coils(0) == [True]
    await advance(world, 0.001)
    assert g.bank.get_discrete(0) == [False]
    assert g.bank.get_coils(0) == [False]
    assert len(g.pulses) == 1 and g.pulses[0].pulse_s == 3.0


async def test_gate_pulse_duration_register_and_early_end(world: World) -> None:
    """pulse_s (0.1 s units) sets the duration; writing the relay false closes at once."""
    g = gate(world)
    g.bank.master_write("holding", 10, [55])
    g.bank.master_write("coil", 0, [True])
    await advance(world, 5.4)
    assert g.door_open
    await advance(world, 0.1)
    assert not g.door_open
    g.bank.master_write("coil", 0, [True])
    await advance(world, 1.0)
    g.bank.master_write("coil", 0, [False])
    assert g.bank.get_discrete(0) == [False]


async def test_door_forced_and_held_open_alarms(world: World) -> None:
    """Forced: open without a pulse raises `forced`; held: open past the pulse, `held_open`."""
    g = gate(world)
    world.mutate("gate-1", lambda d: setattr(d, "forced_fault", True))
    assert g.bank.get_discrete(0, 3) == [True, True, False]
    world.mutate("gate-1", lambda d: setattr(d, "forced_fault", False))
    assert g.bank.get_discrete(0, 3) == [False, False, False]
    world.mutate("gate-1", lambda d: setattr(d, "held_fault", True))
    g.bank.master_write("coil", 0, [True])
    await advance(world, 3.0 + 9.9)
    assert g.bank.get_discrete(0, 3) == [True, False, False]
    await advance(world, 0.1)
    assert g.bank.get_discrete(0, 3) == [True, False, True]
    world.mutate("gate-1", lambda d: setattr(d, "held_fault", False))
    assert g.bank.get_discrete(0, 3) == [False, False, False]


async def test_lamp_failure_shows_commanded_on_feedback_off_no_current(world: World) -> None:
    """A failed lamp: coil on, lamp feedback off, 0 A, and no power in the meter."""
    lt, m = lights(world), meter(world)
    world.mutate("lights-1", lambda d: d.set_lamp_failure(2, True))
    lt.bank.master_write("coil", 0, [True, True])
    assert lt.bank.get_coils(0, 2) == [True, True]
    assert lt.bank.get_discrete(0, 2) == [True, False]
    assert lt.bank.get_input(200, 2) == [174, 0]  # 400 W / 230 V = 1.74 A
    await advance(world, 3600)
    assert m.true_kwh == pytest.approx(0.4, abs=1e-9)


async def test_stuck_on_channel_stays_lit_when_commanded_off(world: World) -> None:
    """A welded contactor: coil off, lamp feedback on, current flowing, power metered."""
    lt, m = lights(world), meter(world)
    world.mutate("lights-1", lambda d: d.set_stuck_on(1, True))
    assert lt.bank.get_coils(0, 1) == [False]
    assert lt.bank.get_discrete(0, 1) == [True]
    assert lt.bank.get_input(200, 1) == [174]
    await advance(world, 3600)
    assert m.true_kwh == pytest.approx(0.4, abs=1e-9)
    world.mutate("lights-1", lambda d: d.set_stuck_on(1, False))
    assert lt.bank.get_discrete(0, 1) == [False]


async def test_dim_level_scales_power(world: World) -> None:
    """A channel at 50 % draws half its power (never below the minimum share)."""
    lt = lights(world)
    lt.bank.master_write("holding", 100, [50])
    lt.bank.master_write("coil", 0, [True])
    assert lt.power_w() == pytest.approx(200.0)
    lt.bank.master_write("holding", 100, [1])
    assert lt.power_w() == pytest.approx(40.0)


async def test_co2_rises_with_people_and_falls_with_ventilation(
    minimal_config: VenueConfig, clock: SimClock
) -> None:
    """Court lit (people in) raises CO2; lights off and HVAC on bring it back toward outdoor."""
    params = SimParams(tick_s=60.0, zones={"hall": Zone(volume_m3=300.0)})
    world = World(minimal_config, params, clock)
    async with world.running():
        lt, h = lights(world), hvac(world)
        env = world.devices["env-1"]
        lt.bank.master_write("coil", 0, [True])
        await advance(world, 3600)
        high = world.air["hall"].co2_ppm
        assert high > 600  # 4 players in 300 m3 with infiltration only
        assert env.bank.get_input(2) == [round(high)]
        lt.bank.master_write("coil", 0, [False])
        h.bank.master_write("coil", 0, [True])
        await advance(world, 3600)
        assert world.air["hall"].co2_ppm < 420 + (high - 420) * 0.1


async def test_hvac_watchdog_fallback_after_silence(world: World) -> None:
    """Once the watchdog was written, 120 s without it resets the setpoint to 21.0 C."""
    h = hvac(world)
    h.bank.master_write("holding", 1, [250])
    await advance(world, 600)
    assert h.setpoint_c == 25.0  # never armed: no fallback
    h.bank.master_write("holding", 50, [1])
    await advance(world, 119)
    assert h.setpoint_c == 25.0
    await advance(world, 2)
    assert h.setpoint_c == 21.0
    assert h.truth()["watchdog_fallbacks"] == 1


async def test_hvac_fault_code_stops_conditioning(world: World) -> None:
    """A faulted unit reports its code, draws nothing and stops driving the room."""
    h = hvac(world)
    h.bank.master_write("coil", 0, [True])
    world.mutate("hvac-1", lambda d: setattr(d, "fault_code", 7))
    assert h.bank.get_input(1) == [7]
    assert h.power_w() == 0.0
    assert h.drive_k_per_s(30.0) == 0.0


async def test_fire_panel_bits_follow_the_simulator(world: World) -> None:
    """Alarm/fault/silenced are discrete inputs 0..2 set only by the simulator."""
    panel = world.devices["fire-1"]
    world.mutate("fire-1", lambda d: d.set("alarm", True))
    assert panel.bank.get_discrete(0, 3) == [True, False, False]


def test_outdoor_curve_minimum_maximum_and_continuity() -> None:
    """18 C at 05:00 and 31 C at 15:00 local; no jump at midnight."""
    curve = DayCurve(Weather(), "Asia/Shanghai")
    day = datetime(2026, 7, 15, tzinfo=SHANGHAI)
    assert curve.at(day.replace(hour=5)) == pytest.approx(18.0)
    assert curve.at(day.replace(hour=15)) == pytest.approx(31.0)
    temps = [curve.at(day + timedelta(minutes=m)) for m in range(0, 48 * 60, 10)]
    assert min(temps) == pytest.approx(18.0) and max(temps) == pytest.approx(31.0)
    # Steepest rise: pi / 2 * 13 K over 10 h = 0.34 K per 10 min.
    assert max(abs(a - b) for a, b in itertools.pairwise(temps)) < 0.35
