"""The air of one zone: a first-order thermal model plus a CO2 balance.

Temperature:  dT/dt = (T_out - T) / tau_envelope + mean over the zone's HVAC units of
              their drive, where a running unit drives clamp((T_set - T) / tau_unit,
              -max_rate, +max_rate) (only upward in heat mode, only downward in cool mode,
              not at all in fan mode or while faulted).
CO2:          dC/dt = people * 5.2 / V  -  ach / 3600 * (C - C_out)
              (0.0052 L/s of CO2 per seated/active person; ach = air changes per hour,
              higher while an HVAC unit of the zone runs).
Integrated with explicit sub-steps of at most 10 s, which is stable for time
constants of minutes and exact enough for rules to be judged.
"""

from __future__ import annotations

from typing import Protocol

from .params import Zone

CO2_PER_PERSON_M3_S = 5.2e-6
MAX_SUBSTEP_S = 10.0


class AirUnit(Protocol):
    """An HVAC unit as the air sees it."""

    @property
    def running(self) -> bool: ...

    def drive_k_per_s(self, room_c: float) -> float: ...


class AirZone:
    def __init__(self, zone_id: str, params: Zone, temp_c: float, co2_ppm: float) -> None:
        self.zone_id = zone_id
        self.params = params
        self.temp_c = temp_c
        self.co2_ppm = co2_ppm
        self.units: list[AirUnit] = []
        self.people = 0.0
        """Occupants now (set by the world from occupancy before each step)."""

    @property
    def ventilated(self) -> bool:
        return any(u.running for u in self.units)

    def step(self, dt: float, outdoor_c: float, outdoor_co2: float) -> None:
        p = self.params
        tau_env = p.envelope_time_constant_h * 3600
        ach = p.ach_hvac_on if self.ventilated else p.ach_hvac_off
        remaining = dt
        while remaining > 1e-12:
            h = min(MAX_SUBSTEP_S, remaining)
            remaining -= h
            drive = 0.0
            if self.units:
                drive = sum(u.drive_k_per_s(self.temp_c) for u in self.units) / len(self.units)
            self.temp_c += h * ((outdoor_c - self.temp_c) / tau_env + drive)
            gen = self.people * CO2_PER_PERSON_M3_S / p.volume_m3 * 1e6
            self.co2_ppm += h * (gen - ach / 3600 * (self.co2_ppm - outdoor_co2))
