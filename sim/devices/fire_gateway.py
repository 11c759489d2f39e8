"""Fire panel gateway (`fire_gateway`): a panel with loops of addressable field devices.

The layout comes from the profile (so a per-device override of `devices` is honoured):
the `fire.device_status` table gives the loops (groups), the addresses per loop, where
each loop's status words start and which bit means what; the `fire.loop_fault`
points are loops 1, 2, ... in profile order. `installed` devices fill the loops in
order (2,499 by default, the venue's count: the last address of the last loop is empty).

Faults set device and loop states; the panel word follows them as a real panel does:
alarm while any device is in alarm, fault while any device or loop is in fault,
disablements while any device is disabled (plus `fire_alarm`/`fire_fault`/
`fire_silenced`, which set the panel's own flags: a manual call point wired to the
panel, a mains failure, the silence key). Only changed status words are written, so
the 0.1 s world tick costs nothing with 2,500 devices.
"""

from __future__ import annotations

from drivers.modbus.points import DeviceProfile, PointSpec
from drivers.modbus.status import count_of, decode_entry, encode_entry
from sim.errors import FaultError, SimConfigError
from sim.modbus.bank import RegisterBank

from .base import Instant, SimDevice

DEFAULT_INSTALLED = 2499
DEVICE_STATES = ("alarm", "fault", "disabled")

Address = tuple[int, int]
"""(loop, device address), both from 1."""


class FireGateway(SimDevice):
    profile_name = "fire_gateway"
    faults = (
        "fire_alarm",
        "fire_fault",
        "fire_silenced",
        "fire_device_alarm",
        "fire_device_fault",
        "fire_device_disabled",
        "fire_loop_fault",
    )

    def __init__(
        self,
        device_id: str,
        profile: DeviceProfile,
        bank: RegisterBank,
        installed: int = DEFAULT_INSTALLED,
    ) -> None:
        super().__init__(device_id, profile, bank)
        table = profile.point_with_role("fire.device_status")
        if table is None or table.status is None:
            raise SimConfigError(
                f"device {device_id}", f"profile {profile.name} has no fire.device_status table"
            )
        self.table: PointSpec = table
        self.layout = table.status
        self.loops = table.status.groups
        self.per_loop = table.length
        if not 0 <= installed <= self.loops * self.per_loop:
            raise SimConfigError(
                f"device {device_id}",
                f"installed {installed} must be 0..{self.loops * self.per_loop}",
            )
        self.installed: set[Address] = {
            (i // self.per_loop + 1, i % self.per_loop + 1) for i in range(installed)
        }
        self.device_state: dict[str, set[Address]] = {s: set() for s in DEVICE_STATES}
        self.loop_faults: set[int] = set()
        self.loop_points = profile.points_with_role("fire.loop_fault")
        self.panel = {"alarm": False, "fault": False, "silenced": False}
        """The panel's own flags, set by the `fire_alarm`/`fire_fault`/`fire_silenced` faults."""
        self.panel_points = {f: profile.point_with_role(f"fire.{f}") for f in self.panel}
        self._dirty: set[Address] = {
            (loop, dev) for loop in range(1, self.loops + 1) for dev in range(1, self.per_loop + 1)
        }

    # Fault switches.
    def check_address(self, loop: int, device: int) -> Address:
        if not 1 <= loop <= self.loops:
            raise FaultError("loop", f"{loop} is not a loop of {self.id} (1..{self.loops})")
        if not 1 <= device <= self.per_loop:
            raise FaultError(
                "device", f"{device} is not an address of loop {loop} (1..{self.per_loop})"
            )
        if (loop, device) not in self.installed:
            raise FaultError("device", f"no device is installed at loop {loop} address {device}")
        return loop, device

    def set_device(self, loop: int, device: int, state: str, on: bool) -> None:
        address = self.check_address(loop, device)
        members = self.device_state[state]
        (members.add if on else members.discard)(address)
        self._dirty.add(address)

    def set_loop_fault(self, loop: int, on: bool) -> None:
        if not 1 <= loop <= len(self.loop_points):
            raise FaultError(
                "loop", f"{loop} is not a loop of {self.id} (1..{len(self.loop_points)})"
            )
        (self.loop_faults.add if on else self.loop_faults.discard)(loop)

    def set_panel(self, flag: str, on: bool) -> None:
        self.panel[flag] = on

    def heal(self) -> None:
        for members in self.device_state.values():
            self._dirty |= members
            members.clear()
        self.loop_faults.clear()
        for flag in self.panel:
            self.panel[flag] = False

    # Registers.
    def word(self, address: Address) -> int:
        if address not in self.installed:
            return 0
        return encode_entry(
            self.layout,
            alarm=address in self.device_state["alarm"],
            fault=address in self.device_state["fault"],
            disabled=address in self.device_state["disabled"],
        )

    def register_of(self, address: Address) -> int:
        loop, device = address
        return self.table.address + (loop - 1) * self.table.group_stride + device - 1

    def refresh(self, now: Instant) -> None:
        for address in self._dirty:
            self.bank.set(self.table.table.value, self.register_of(address), [self.word(address)])
        self._dirty.clear()
        alarms = bool(self.device_state["alarm"])
        faults = bool(self.device_state["fault"]) or bool(self.loop_faults)
        flags = {
            "alarm": self.panel["alarm"] or alarms,
            "fault": self.panel["fault"] or faults,
            "silenced": self.panel["silenced"],
        }
        for flag, on in flags.items():
            point = self.panel_points[flag]
            if point is not None:
                self.write(point.name, on)
        if self.has("disablements"):
            self.write("disablements", bool(self.device_state["disabled"]))
        for n, point in enumerate(self.loop_points, 1):
            self.write(point.name, n in self.loop_faults)

    def state_of(self, address: Address) -> str:
        """The state the gateway shows for a device (label, as in status counts)."""
        if address not in self.installed:
            return "absent"
        return decode_entry(self.word(address), self.layout).label

    def truth(self) -> dict[str, object]:
        text = "".join(
            decode_entry(self.word((loop, dev)), self.layout).value
            for loop in range(1, self.loops + 1)
            for dev in range(1, self.per_loop + 1)
        )
        return {
            "installed": len(self.installed),
            "counts": {s: count_of(text, s) for s in ("normal", *DEVICE_STATES)},
            "alarm": sorted(self.device_state["alarm"]),
            "fault": sorted(self.device_state["fault"]),
            "disabled": sorted(self.device_state["disabled"]),
            "loop_faults": sorted(self.loop_faults),
            "panel": dict(self.panel),
        }
