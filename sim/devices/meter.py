"""Energy meter (`energy_meter`) integrating the power of the loads it meters.

Ground truth (`true_kwh`) is the exact integral of the metered power, which is
piecewise constant between simulation steps and writes; it never resets. The
register shows `true_kwh + offset_kwh` encoded with the point's own datatype and
scale, wrapping like the real counter (a uint32 of 0.1 kWh wraps at 2**32 * 0.1 kWh).
A meter reset sets the register back to 0; a rollover preset puts it just below the wrap.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from drivers.modbus.codec import INT_RANGES
from drivers.modbus.points import DataType, DeviceProfile, PointSpec
from sim.errors import FaultError
from sim.modbus.bank import RegisterBank
from sim.params import Meter

from .base import Instant, SimDevice

J_PER_KWH = 3_600_000.0


class EnergyMeter(SimDevice):
    profile_name = "energy_meter"
    faults = ("meter_reset", "meter_rollover")

    def __init__(
        self,
        device_id: str,
        profile: DeviceProfile,
        bank: RegisterBank,
        params: Meter,
        loads: Callable[[], float],
        load_ids: list[str],
    ) -> None:
        super().__init__(device_id, profile, bank)
        self.params = params
        self.loads = loads
        """Total power (W) of the metered loads now."""
        self.load_ids = load_ids
        self.true_j = 0.0
        self.offset_kwh = params.preset_kwh
        self.power_now_w = 0.0
        self.resets = 0
        self._counter = self.point("import_kwh")
        self._counter_raw = _raw_point(self._counter)
        self._last_raw: int | None = None

    @property
    def true_kwh(self) -> float:
        return self.true_j / J_PER_KWH

    @property
    def register_kwh(self) -> float:
        """What the counter shows before encoding (may exceed the register's wrap)."""
        return self.true_kwh + self.offset_kwh

    def wrap_kwh(self) -> float | None:
        """The kWh value at which the counter register wraps to 0 (None for floats)."""
        p = self.point("import_kwh")
        if p.datatype not in INT_RANGES:
            return None
        _, high = INT_RANGES[p.datatype]
        return (high + 1) * p.scale + p.offset

    def integrate(self, dt: float, power_w: float) -> None:
        self.true_j += power_w * dt

    def refresh(self, now: Instant) -> None:
        self.power_now_w = self.loads()
        self._write_counter()
        if self.has("power_w"):
            self.write("power_w", _fit(self.point("power_w"), round(self.power_now_w)))
        if self.has("voltage"):
            self.write("voltage", self.params.volts)

    def _write_counter(self) -> None:
        p = self._counter
        value = self.register_kwh
        if p.datatype in INT_RANGES:
            low, high = INT_RANGES[p.datatype]
            # Counts of the register's resolution, floored like a real meter's display.
            counts = math.floor((value - p.offset) / p.scale + 1e-9)
            raw = (counts - low) % (high - low + 1) + low  # two's-complement style wrap
            if raw != self._last_raw:
                self.bank.set_point(self._counter_raw, raw)
                self._last_raw = raw
        else:
            self.bank.set_point(p, value)

    def reset(self) -> None:
        """The counter restarts from 0 (a technician's reset or a replaced meter)."""
        self.offset_kwh = -self.true_kwh
        self.resets += 1
        self._write_counter()

    def preset_before_rollover(self, before_kwh: float) -> None:
        """Put the counter `before_kwh` below the value where its register wraps."""
        wrap = self.wrap_kwh()
        if wrap is None:
            raise FaultError(
                "meter_rollover", f"{self.id}'s import_kwh is a float and never rolls over"
            )
        if not 0 < before_kwh < wrap:
            raise FaultError("before_kwh", f"must be > 0 and < {wrap} (the wrap value)")
        self.offset_kwh = wrap - before_kwh - self.true_kwh
        self._write_counter()

    def truth(self) -> dict[str, object]:
        return {
            "true_kwh": self.true_kwh,
            "register_kwh": self.register_kwh,
            "power_w": self.power_now_w,
            "loads": list(self.load_ids),
            "resets": self.resets,
        }


def _raw_point(p: PointSpec) -> PointSpec:
    """The same registers with scale 1 and offset 0: to store a raw integer count."""
    import msgspec

    return msgspec.structs.replace(p, scale=1.0, offset=0.0, precision=None, min=None, max=None)


def _fit(p: PointSpec, value: int) -> float:
    if p.datatype in INT_RANGES and p.scale == 1.0:
        low, high = INT_RANGES[p.datatype]
        return max(low, min(high, value))
    if p.datatype is DataType.FLOAT32:
        return float(value)
    return value
