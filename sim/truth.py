"""Ground truth of a running simulated venue, for tests and the demo timeline.

Everything here is what physically happened in the simulation, not what a
device's registers (with their resolution, rollover and faults) show.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

from .devices.base import SimDevice
from .devices.gate import GateController, Pulse
from .devices.lights import LightingController
from .devices.meter import EnergyMeter
from .errors import FaultError
from .world import World, WriteRecord

J_PER_KWH = 3_600_000.0
D = TypeVar("D", bound=SimDevice)


class Truth:
    def __init__(self, world: World) -> None:
        self._w = world

    @overload
    def _dev(self, device_id: str) -> SimDevice: ...
    @overload
    def _dev(self, device_id: str, cls: type[D]) -> D: ...
    def _dev(self, device_id: str, cls: type[SimDevice] | None = None) -> SimDevice:
        dev = self._w.devices.get(device_id)
        if dev is None or (cls is not None and not isinstance(dev, cls)):
            choices = [d for d, x in self._w.devices.items() if cls is None or isinstance(x, cls)]
            raise FaultError("device", f"no such simulated device {device_id!r}", choices)
        return dev

    def _zone(self, zone: str) -> str:
        if zone not in self._w.topology.air_of:
            raise FaultError("zone", f"unknown zone {zone!r}", self._w.topology.air_of)
        return zone

    def outdoor_c(self) -> float:
        return self._w.curve.at(self._w.clock.now())

    def zone_temp_c(self, zone: str) -> float:
        """Air temperature of the zone (shared with the zones whose air it shares)."""
        self._w.advance()
        return self._w.air[self._w.topology.air_of[self._zone(zone)]].temp_c

    def co2_ppm(self, zone: str) -> float:
        self._w.advance()
        return self._w.air[self._w.topology.air_of[self._zone(zone)]].co2_ppm

    def zone_lit(self, zone: str) -> bool:
        return self._w.zone_lit(self._zone(zone))

    def meter_kwh(self, meter: str) -> float:
        """Exact energy through the meter since start (never reset, never wraps)."""
        self._w.advance()
        return float(self._dev(meter, EnergyMeter).true_kwh)

    def load_kwh(self, device_id: str) -> float:
        """Exact energy drawn by one light/HVAC device since start."""
        self._w.advance()
        if device_id not in self._w.energy_j:
            raise FaultError("device", f"{device_id!r} draws no metered power", self._w.energy_j)
        return self._w.energy_j[device_id] / J_PER_KWH

    def power_w(self, device_id: str) -> float:
        return float(self._dev(device_id).power_w())

    def pulses(self, gate_device: str) -> list[Pulse]:
        return list(self._dev(gate_device, GateController).pulses)

    def lit_channels(self, light_device: str) -> list[int]:
        dev = self._dev(light_device, LightingController)
        return [ch for ch in dev.channels if dev.lit(ch)]

    def device(self, device_id: str) -> dict[str, object]:
        self._w.advance()
        facts: dict[str, object] = self._dev(device_id).truth()
        return facts

    @property
    def writes(self) -> list[WriteRecord]:
        """Every master write since start, in order."""
        return list(self._w.writes)

    def snapshot(self) -> dict[str, Any]:
        self._w.advance()
        return {
            "now": self._w.clock.now().isoformat(),
            "outdoor_c": round(self.outdoor_c(), 2),
            "air": {
                z: {"temp_c": round(a.temp_c, 2), "co2_ppm": round(a.co2_ppm), "people": a.people}
                for z, a in self._w.air.items()
            },
            "devices": {d: dev.truth() for d, dev in self._w.devices.items()},
        }
