"""Door/gate controller (`gate_controller`): relay pulse, door contact, forced/held alarms.

Writing the relay coil true unlocks the door for `pulse_s` (holding 10); the door
opens with the unlock and closes when the pulse ends (the controller drops the relay
itself, so the coil reads back false afterwards). Writing the coil false ends a
pulse early; writing true during a pulse restarts it (how an egress gate is held
open in an emergency). Injected faults: `door_forced` opens the door without a
pulse (forced alarm while it is open without unlock); `door_held` keeps the door
open after the pulse (held-open alarm `held_after_s` after the pulse ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.modbus.points import DeviceProfile, PointSpec
from sim.modbus.bank import RegisterBank
from sim.params import Gate

from .base import Instant, SimDevice

DEFAULT_PULSE_S = 3.0


@dataclass(frozen=True, slots=True)
class Pulse:
    """One unlock as the controller saw it (ground truth for access tests)."""

    wall: datetime
    mono: float
    pulse_s: float


class GateController(SimDevice):
    profile_name = "gate_controller"
    faults = ("door_forced", "door_held")

    def __init__(
        self, device_id: str, profile: DeviceProfile, bank: RegisterBank, params: Gate
    ) -> None:
        super().__init__(device_id, profile, bank)
        self.params = params
        self.unlocked_until: float | None = None
        self.pulse_end_mono: float | None = None
        self.forced_fault = False
        self.held_fault = False
        self.door_open = False
        self.pulses: list[Pulse] = []
        self.openings = 0
        self.write("pulse_s", DEFAULT_PULSE_S)

    @property
    def pulse_s(self) -> float:
        return float(self.read("pulse_s"))

    @property
    def unlocked(self) -> bool:
        return self.unlocked_until is not None

    def on_master_write(self, now: Instant, points: list[PointSpec]) -> None:
        if not any(p.name == "relay" for p in points):
            return
        if bool(self.read("relay")):
            self.unlocked_until = now.mono + self.pulse_s
            self.pulses.append(Pulse(now.wall, now.mono, self.pulse_s))
            self.schedule(self.unlocked_until)
            self.schedule(self.unlocked_until + self.params.held_after_s)
        elif self.unlocked_until is not None:
            self.unlocked_until = now.mono
        self.advance(now, 0.0)
        self.refresh(now)

    def advance(self, now: Instant, dt: float) -> None:
        if self.unlocked_until is not None and now.mono >= self.unlocked_until - 1e-9:
            self.pulse_end_mono = now.mono
            self.unlocked_until = None
        was_open = self.door_open
        if self.unlocked or self.forced_fault or (self.held_fault and was_open):
            self.door_open = True
        else:
            self.door_open = False
        if self.door_open and not was_open:
            self.openings += 1

    @property
    def forced(self) -> bool:
        return self.door_open and not self.unlocked and self.forced_fault

    def held_open(self, now: Instant) -> bool:
        if not self.door_open or self.unlocked or self.pulse_end_mono is None:
            return False
        return now.mono - self.pulse_end_mono >= self.params.held_after_s - 1e-9

    def refresh(self, now: Instant) -> None:
        self.write("relay", self.unlocked)
        self.write("door_open", self.door_open)
        self.write("forced", self.forced)
        self.write("held_open", self.held_open(now) and not self.forced)

    def truth(self) -> dict[str, object]:
        return {
            "unlocked": self.unlocked,
            "door_open": self.door_open,
            "pulses": len(self.pulses),
            "openings": self.openings,
            "forced_fault": self.forced_fault,
            "held_fault": self.held_fault,
        }
