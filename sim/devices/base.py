"""What every simulated device shares: its register bank seen through its profile's points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from drivers.modbus.codec import Value
from drivers.modbus.points import DeviceProfile, PointSpec, Table
from sim.errors import SimConfigError
from sim.modbus.bank import RegisterBank


@dataclass(frozen=True, slots=True)
class Instant:
    """One moment of the simulation: monotonic seconds and aware wall time."""

    mono: float
    wall: datetime


def bank_for(profile: DeviceProfile) -> RegisterBank:
    """A bank just large enough for the profile's points (plus one spare of each table)."""
    ends = {t: 1 for t in Table}
    for p in profile.points:
        ends[p.table] = max(ends[p.table], p.address + p.register_count + 1)
    return RegisterBank(
        coils=ends[Table.COIL],
        discrete=ends[Table.DISCRETE],
        holding=ends[Table.HOLDING],
        input=ends[Table.INPUT],
    )


class SimDevice:
    """Base of the behaviours. Subclasses override the hooks they need.

    The world calls, in order: `power_w()` (held constant since the last step, for
    the meters), then `advance(now, dt)`, then `refresh(now)` to publish state into
    registers. A master write first brings the world up to now, then calls
    `on_master_write(now, points)` with the points the write touched.
    """

    profile_name: ClassVar[str] = ""
    #: Fault switches this behaviour understands (beyond the unit-level ones).
    faults: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device_id: str, profile: DeviceProfile, bank: RegisterBank) -> None:
        self.id = device_id
        self.profile = profile
        self.bank = bank
        self.schedule: Callable[[float], None] = lambda _mono: None
        """Set by the world: ask to be advanced at this monotonic instant (timers)."""
        self._points = {p.name: p for p in profile.points}
        self._published: dict[str, Value] = {}

    def has(self, name: str) -> bool:
        return name in self._points

    def point(self, name: str) -> PointSpec:
        p = self._points.get(name)
        if p is None:
            raise SimConfigError(
                f"device {self.id}", f"profile {self.profile.name} has no point {name!r}"
            )
        return p

    def read(self, name: str) -> Value:
        return self.bank.get_point(self.point(name))

    def write(self, name: str, value: Value) -> None:
        p = self.point(name)
        if p.table in (Table.DISCRETE, Table.INPUT):
            # Only the simulator writes read-only tables: skip encoding an unchanged value.
            if self._published.get(name) == value and type(self._published[name]) is type(value):
                return
            self._published[name] = value
        self.bank.set_point(p, value)

    def touched(self, table: str, address: int, count: int) -> list[PointSpec]:
        """The profile points a master write to `table[address:address+count]` overlaps."""
        end = address + count
        return [
            p
            for p in self.profile.points
            if p.table.value == table and p.address < end and address < p.address + p.register_count
        ]

    # Hooks.
    def power_w(self) -> float:
        return 0.0

    def advance(self, now: Instant, dt: float) -> None:
        """Move internal state forward by `dt` seconds ending at `now`."""

    def refresh(self, now: Instant) -> None:
        """Write internal state into the registers a master reads."""

    def on_master_write(self, now: Instant, points: list[PointSpec]) -> None:
        """React to a master write of `points` (already stored in the bank)."""

    def truth(self) -> dict[str, object]:
        """Ground truth for tests and the timeline (plain values)."""
        return {}
