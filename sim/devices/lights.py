"""Multi-channel lighting controller (`lighting_8ch`).

A channel is lit when its coil is on, its dim level is above 0 and its lamp works.
Lamp feedback (discrete input) and channel current (input register) follow what is
lit, so an injected lamp failure shows as "commanded on, feedback off, current 0",
exactly what a lamp-failure detector must notice.
"""

from __future__ import annotations

import re

from drivers.modbus.points import DeviceProfile, PointSpec
from sim.errors import FaultError
from sim.modbus.bank import RegisterBank
from sim.params import Lights

from .base import Instant, SimDevice

_CHANNEL = re.compile(r"^ch(\d+)_on$")


class LightingController(SimDevice):
    profile_name = "lighting_8ch"
    faults = ("lamp_failure", "stuck_on")

    def __init__(
        self, device_id: str, profile: DeviceProfile, bank: RegisterBank, params: Lights
    ) -> None:
        super().__init__(device_id, profile, bank)
        self.params = params
        self.channels = sorted(
            int(m.group(1)) for p in profile.points if (m := _CHANNEL.match(p.name))
        )
        self.failed: set[int] = set()
        self.stuck: set[int] = set()
        """Channels lit whatever is commanded (a welded contactor)."""
        for ch in self.channels:
            if self.has(f"ch{ch}_dim"):
                self.write(f"ch{ch}_dim", 100)
        # Only a master changes coils and dim levels: read them once per write, not per tick.
        self._on: dict[int, bool] = {}
        self._level: dict[int, float] = {}
        self._load_commands()

    def _load_commands(self) -> None:
        for ch in self.channels:
            self._on[ch] = bool(self.read(f"ch{ch}_on"))
            dim = f"ch{ch}_dim"
            self._level[ch] = float(self.read(dim)) if self.has(dim) else 100.0

    def commanded(self, ch: int) -> bool:
        return self._on[ch]

    def level(self, ch: int) -> float:
        return self._level[ch]

    def lit(self, ch: int) -> bool:
        if ch in self.failed:
            return False
        return ch in self.stuck or (self.commanded(ch) and self.level(ch) > 0)

    def channel_w(self, ch: int) -> float:
        if not self.lit(ch):
            return 0.0
        share = max(min(self.level(ch), 100.0), self.params.min_level_pct) / 100
        return self.params.channel_w * share

    def power_w(self) -> float:
        return sum(self.channel_w(ch) for ch in self.channels)

    @property
    def any_lit(self) -> bool:
        return any(self.lit(ch) for ch in self.channels)

    def refresh(self, now: Instant) -> None:
        for ch in self.channels:
            if self.has(f"ch{ch}_lamp"):
                self.write(f"ch{ch}_lamp", self.lit(ch))
            if self.has(f"ch{ch}_current"):
                amps = self.channel_w(ch) / self.params.volts
                self.write(f"ch{ch}_current", round(amps, 2))

    def on_master_write(self, now: Instant, points: list[PointSpec]) -> None:
        self._load_commands()
        self.refresh(now)

    def set_lamp_failure(self, channel: int, failed: bool) -> None:
        self._channel(channel)
        (self.failed.add if failed else self.failed.discard)(channel)

    def set_stuck_on(self, channel: int, stuck: bool) -> None:
        self._channel(channel)
        (self.stuck.add if stuck else self.stuck.discard)(channel)

    def _channel(self, channel: int) -> None:
        if channel not in self.channels:
            raise FaultError(
                "channel",
                f"{channel} is not a channel of {self.id}",
                [str(c) for c in self.channels],
            )

    def truth(self) -> dict[str, object]:
        return {
            "commanded": {ch: self.commanded(ch) for ch in self.channels},
            "lit": {ch: self.lit(ch) for ch in self.channels},
            "failed": sorted(self.failed),
            "stuck_on": sorted(self.stuck),
            "power_w": self.power_w(),
        }
