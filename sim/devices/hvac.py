"""Fan-coil / air-handler controller (`hvac_fancoil`) acting on its zone's air.

Running (coil `on`, no fault code) it drives the zone toward its setpoint (see
`sim.air`); its power is the fan power plus a load share that grows with the gap to
the setpoint (full load beyond 2 K). Run hours count whole hours of running.
The profile's BMS watchdog is honoured once armed: after the first watchdog write,
`watchdog_timeout_s` without one makes the unit fall back to 21.0 C, fan auto.
"""

from __future__ import annotations

from drivers.modbus.points import DeviceProfile, PointSpec
from sim.air import AirZone
from sim.modbus.bank import RegisterBank
from sim.params import Hvac

from .base import Instant, SimDevice

COMFORT_SETPOINT_C = 21.0
FULL_LOAD_GAP_K = 2.0


class FanCoil(SimDevice):
    profile_name = "hvac_fancoil"
    faults = ("hvac_fault",)

    def __init__(
        self,
        device_id: str,
        profile: DeviceProfile,
        bank: RegisterBank,
        params: Hvac,
        air: AirZone,
        initial_setpoint_c: float = 26.0,
    ) -> None:
        super().__init__(device_id, profile, bank)
        self.params = params
        self.air = air
        air.units.append(self)
        self.run_s = 0.0
        self.fault_code = 0
        self.watchdog_armed = False
        self.last_watchdog_mono = 0.0
        self.comm_scale = 1.0
        """Simulated seconds per wire second (the clock's rate when accelerated)."""
        self.fallbacks = 0
        self.write("setpoint", initial_setpoint_c)
        self.write("mode", "auto")
        self.write("fan_speed", "auto")

    @property
    def on(self) -> bool:
        return bool(self.read("on"))

    @property
    def setpoint_c(self) -> float:
        return float(self.read("setpoint"))

    @property
    def mode(self) -> str:
        return str(self.read("mode"))

    @property
    def running(self) -> bool:
        return self.on and self.fault_code == 0

    def drive_k_per_s(self, room_c: float) -> float:
        if not self.running or self.mode == "fan":
            return 0.0
        tau = self.params.time_constant_min * 60
        cap = self.params.max_rate_k_per_h / 3600
        drive = max(-cap, min(cap, (self.setpoint_c - room_c) / tau))
        if self.mode == "heat":
            return max(0.0, drive)
        if self.mode == "cool":
            return min(0.0, drive)
        return drive

    def power_w(self) -> float:
        if not self.running:
            return 0.0
        if self.mode == "fan":
            return self.params.fan_w
        load = min(1.0, abs(self.setpoint_c - self.air.temp_c) / FULL_LOAD_GAP_K)
        return self.params.fan_w + (self.params.rated_w - self.params.fan_w) * load

    def advance(self, now: Instant, dt: float) -> None:
        if self.running:
            self.run_s += dt
        timeout = self.params.watchdog_timeout_s * self.comm_scale
        if self.watchdog_armed and timeout > 0 and now.mono - self.last_watchdog_mono >= timeout:
            self.watchdog_armed = False
            self.fallbacks += 1
            self.write("setpoint", COMFORT_SETPOINT_C)
            self.write("fan_speed", "auto")

    def refresh(self, now: Instant) -> None:
        self.write("room_temp", round(self.air.temp_c, 1))
        self.write("fault_code", self.fault_code)
        self.write("run_hours", int(self.run_s // 3600))

    def on_master_write(self, now: Instant, points: list[PointSpec]) -> None:
        if any(p.name == "watchdog" for p in points):
            self.watchdog_armed = True
            self.last_watchdog_mono = now.mono
            if self.params.watchdog_timeout_s > 0:
                # Fall back at the exact instant, not at the next tick.
                self.schedule(now.mono + self.params.watchdog_timeout_s * self.comm_scale)
        self.refresh(now)

    def truth(self) -> dict[str, object]:
        return {
            "on": self.on,
            "running": self.running,
            "mode": self.mode,
            "setpoint_c": self.setpoint_c,
            "room_c": self.air.temp_c,
            "run_hours": self.run_s / 3600,
            "fault_code": self.fault_code,
            "power_w": self.power_w(),
            "watchdog_fallbacks": self.fallbacks,
        }
