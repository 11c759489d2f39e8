"""Fire alarm panel interface (`fire_panel`): status bits set by the simulator only."""

from __future__ import annotations

from drivers.modbus.points import DeviceProfile
from sim.modbus.bank import RegisterBank

from .base import Instant, SimDevice


class FirePanel(SimDevice):
    profile_name = "fire_panel"
    faults = ("fire_alarm", "fire_fault", "fire_silenced")

    def __init__(self, device_id: str, profile: DeviceProfile, bank: RegisterBank) -> None:
        super().__init__(device_id, profile, bank)
        self.state = {"alarm": False, "fault": False, "silenced": False}

    def set(self, name: str, on: bool) -> None:
        self.state[name] = on

    def refresh(self, now: Instant) -> None:
        for name, on in self.state.items():
            if self.has(name):
                self.write(name, on)

    def truth(self) -> dict[str, object]:
        return dict(self.state)
