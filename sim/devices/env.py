"""Room environment sensor (`env_sensor`): reads its zone's air.

Temperature is the zone model's; CO2 comes from the zone's CO2 balance (people
while occupied, ventilation while HVAC runs, see `sim.air`); relative humidity
falls as the air warms (about 1.2 %RH per K around 20 C) and rises a little with
people in the room: a plausible signal for range alarms, not psychrometrics.
"""

from __future__ import annotations

from drivers.modbus.points import DeviceProfile
from sim.air import AirZone
from sim.modbus.bank import RegisterBank

from .base import Instant, SimDevice


def humidity_pct(temp_c: float, people: float, volume_m3: float) -> float:
    crowd = min(8.0, 2000.0 * people / volume_m3 / 10)
    return max(25.0, min(90.0, 62.0 - 1.2 * (temp_c - 20.0) + crowd))


class EnvSensor(SimDevice):
    profile_name = "env_sensor"

    def __init__(
        self, device_id: str, profile: DeviceProfile, bank: RegisterBank, air: AirZone
    ) -> None:
        super().__init__(device_id, profile, bank)
        self.air = air

    @property
    def humidity(self) -> float:
        return humidity_pct(self.air.temp_c, self.air.people, self.air.params.volume_m3)

    def refresh(self, now: Instant) -> None:
        if self.has("temperature"):
            self.write("temperature", round(self.air.temp_c, 1))
        if self.has("humidity"):
            self.write("humidity", round(self.humidity, 1))
        if self.has("co2"):
            self.write("co2", max(0, round(self.air.co2_ppm)))

    def truth(self) -> dict[str, object]:
        return {
            "temperature_c": self.air.temp_c,
            "humidity_pct": self.humidity,
            "co2_ppm": self.air.co2_ppm,
            "people": self.air.people,
        }
