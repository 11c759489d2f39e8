"""Which point of which device has which role, for the whole venue.

Built once per config from the devices' profiles (`ProfileBook.point_roles`): zones,
energy, gates, counters and alarms ask "the point with role hvac.setpoint of device X"
or "every point with role fire.alarm" here, and never look at a profile's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge.config.model import VenueConfig
from edge.profiles import ProfileBook


@dataclass(frozen=True, slots=True)
class RolePoint:
    device: str
    point: str
    group: str | None = None
    """Points of one channel or loop share a group (`ch3`, `loop2`)."""

    @property
    def ref(self) -> str:
        return f"{self.device}.{self.point}"


class RoleMap:
    def __init__(self, entries: Iterable[tuple[str, str, tuple[str, ...], str | None]]) -> None:
        """`entries`: (device, point, roles, group)."""
        self._by_role: dict[str, list[RolePoint]] = {}
        self._roles: dict[tuple[str, str], tuple[str, ...]] = {}
        for device, point, roles, group in entries:
            if roles:  # most points have none: no entry (4,000 of them at 100 devices)
                self._roles[(device, point)] = roles
            for role in roles:
                self._by_role.setdefault(role, []).append(RolePoint(device, point, group))

    @classmethod
    def of(cls, cfg: VenueConfig, book: ProfileBook) -> RoleMap:
        """Every configured device's points (devices with an unknown profile are skipped:
        the config check reports them)."""
        entries = []
        for d in cfg.devices:
            if book.points(d.profile) is None or book.override_problem(d.profile, d.points):
                continue
            for point, (roles, group) in book.point_roles(d.profile, d.points).items():
                entries.append((d.id, point, roles, group))
        return cls(entries)

    def points(self, role: str) -> list[RolePoint]:
        return list(self._by_role.get(role, ()))

    def devices(self, role: str) -> list[str]:
        return sorted({p.device for p in self._by_role.get(role, ())})

    def point(self, device: str, role: str, group: str | None = None) -> RolePoint | None:
        """The device's (first) point with `role`, in `group` when one is given."""
        for p in self._by_role.get(role, ()):
            if p.device == device and (group is None or p.group == group):
                return p
        return None

    def ref(self, device: str, role: str, group: str | None = None) -> str | None:
        p = self.point(device, role, group)
        return None if p is None else p.ref

    def roles_of(self, device: str, point: str) -> tuple[str, ...]:
        return self._roles.get((device, point), ())

    def has(self, device: str, role: str) -> bool:
        return self.point(device, role) is not None
