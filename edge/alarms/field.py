"""Detectors fed by the point table: comm lost, lamp failure, doors, environment ranges.

Each one is a small class with `on_event(event)` (and `tick()` when time matters) that
calls `report(cls, source, active, message, device=..., zone=...)` on the engine. They
keep no alarm state of their own: debounce and lifecycle are the engine's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from edge.alarms.config import AlarmsConfig
from edge.field.points import PointState, PointTable

Report = Callable[..., None]
READABLE = (Quality.GOOD, Quality.UNCERTAIN)


def readable(state: PointState | None) -> bool:
    return state is not None and state.value is not None and state.quality in READABLE


def number(state: PointState | None) -> float | None:
    if not readable(state):
        return None
    assert state is not None
    try:
        value = float(state.value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN is no reading


class CommLostDetector:
    """A device reported offline (raised after `comm_lost_after_s` by the class delay)."""

    def __init__(self, report: Report, devices: dict[str, str | None]) -> None:
        self._report = report
        self._devices = devices
        """device id -> zone"""

    def on_event(self, event: BusEvent) -> None:
        if isinstance(event, DeviceStatus) and event.device in self._devices:
            why = f"device {event.device} not answering: {event.reason or 'no reply'}"
            self._report(
                "comm_lost", event.device, not event.online,
                why if not event.online else f"device {event.device} answering again",
                device=event.device, zone=self._devices[event.device],
            )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Channel:
    """One light channel's points (by role): the switch, and what tells whether it is lit."""

    device: str
    name: str
    """The channel's group (`ch3`), or the switch point's name."""
    on: str
    dim: str | None = None
    lamp: str | None = None
    current: str | None = None


class LampFailureDetector:
    """Channel commanded on (and dimmed above 0) while lamp feedback or current says dark."""

    def __init__(
        self,
        report: Report,
        points: PointTable,
        channels: list[Channel],
        zones: dict[str, str | None],
        cfg: AlarmsConfig,
    ) -> None:
        self._report = report
        self._points = points
        self._zones = zones
        self._min_a = cfg.lamp_min_current_a
        self._by_point: dict[tuple[str, str], Channel] = {}
        for ch in channels:
            for p in (ch.on, ch.dim, ch.lamp, ch.current):
                if p is not None:
                    self._by_point[(ch.device, p)] = ch

    def on_event(self, event: BusEvent) -> None:
        if isinstance(event, PointUpdate):
            ch = self._by_point.get((event.device, event.point))
            if ch is not None:
                self.check(ch)

    def check(self, ch: Channel) -> None:
        device = ch.device

        def get(point: str | None) -> PointState | None:
            return None if point is None else self._points.get(f"{device}.{point}")

        on = get(ch.on)
        if not readable(on):
            return  # unknown: comm_lost covers a silent device
        assert on is not None
        dim = number(get(ch.dim))
        commanded = bool(on.value) and (dim is None or dim > 0)
        lamp = get(ch.lamp)
        current = number(get(ch.current))
        lamp_dark = readable(lamp) and not bool(lamp.value)  # type: ignore[union-attr]
        current_dark = current is not None and current < self._min_a
        if commanded and not readable(lamp) and current is None:
            return  # no feedback at all: cannot judge
        active = commanded and (lamp_dark or current_dark)
        why = []
        if lamp_dark:
            why.append("lamp feedback off")
        if current_dark:
            why.append(f"current {current:.2f} A")
        label = ch.name[2:] if ch.name.startswith("ch") and ch.name[2:].isdigit() else ch.name
        message = (
            f"{device} channel {label} commanded on but " + " and ".join(why)
            if active
            else f"{device} channel {label} lamp ok or off"
        )
        self._report("lamp_failure", f"{device}.{ch.name}", active, message,
                     device=device, zone=self._zones.get(device))  # fmt: skip


@dataclass(frozen=True, slots=True)
class DoorPoints:
    """A door's points by role (door.contact, door.forced, door.held_open)."""

    contact: str | None = None
    forced: str | None = None
    held_open: str | None = None


@dataclass
class _Door:
    zone: str | None
    open_since: float | None = None


class DoorDetector:
    """Door points: `door.forced` -> door_forced; `door.held_open` or `door.contact` open
    longer than `door_open_max_s` -> door_held_open."""

    def __init__(
        self,
        report: Report,
        points: PointTable,
        doors: dict[str, DoorPoints],
        zones: dict[str, str | None],
        cfg: AlarmsConfig,
        monotonic: Callable[[], float],
    ) -> None:
        self._report = report
        self._points = points
        self._points_of = doors
        self._doors = {d: _Door(zones.get(d)) for d in doors}
        self._max_open = cfg.door_open_max_s
        self._mono = monotonic

    def on_event(self, event: BusEvent) -> None:
        if not isinstance(event, PointUpdate) or event.device not in self._doors:
            return
        pts = self._points_of[event.device]
        if event.point == pts.forced and readable(self._points.get(f"{event.device}.{pts.forced}")):
            forced = bool(event.value)
            self._report(
                "door_forced", event.device, forced,
                f"door {event.device} forced open" if forced else f"door {event.device} closed",
                device=event.device, zone=self._doors[event.device].zone,
            )  # fmt: skip
        elif event.point in (pts.contact, pts.held_open):
            self._held(event.device)

    def tick(self) -> None:
        for device in self._doors:
            self._held(device)

    def _held(self, device: str) -> None:
        door = self._doors[device]
        pts = self._points_of[device]
        contact = self._points.get(f"{device}.{pts.contact}") if pts.contact else None
        held_bit = self._points.get(f"{device}.{pts.held_open}") if pts.held_open else None
        if not readable(contact) and not readable(held_bit):
            return
        now = self._mono()
        is_open = readable(contact) and bool(contact.value)  # type: ignore[union-attr]
        if not is_open:
            door.open_since = None
        elif door.open_since is None:
            door.open_since = now
        too_long = door.open_since is not None and now - door.open_since >= self._max_open
        flagged = readable(held_bit) and bool(held_bit.value)  # type: ignore[union-attr]
        active = flagged or too_long
        why = "controller reports held open" if flagged else f"open over {self._max_open:.0f} s"
        self._report(
            "door_held_open", device, active,
            f"door {device} {why}" if active else f"door {device} closed",
            device=device, zone=door.zone,
        )  # fmt: skip


ENV_ROLES = ("env.temperature", "env.humidity", "env.co2")


class EnvironmentDetector:
    """Room temperature, humidity and CO2 (roles env.*) against the configured ranges."""

    def __init__(
        self,
        report: Report,
        points: dict[tuple[str, str], str],
        zones: dict[str, str | None],
        cfg: AlarmsConfig,
    ) -> None:
        """`points`: (device, point) -> its env.* role."""
        self._report = report
        self._points = points
        self._devices = zones
        by_role: dict[str, tuple[str, float, float, str]] = {
            "env.temperature": ("temperature_range", cfg.temp_min_c, cfg.temp_max_c, "C"),
            "env.humidity": (
                "humidity_range", cfg.humidity_min_pct, cfg.humidity_max_pct, "%RH",
            ),
            "env.co2": ("co2_high", float("-inf"), cfg.co2_max_ppm, "ppm"),
        }  # fmt: skip
        self._ranges = {key: by_role[role] for key, role in points.items()}

    def on_event(self, event: BusEvent) -> None:
        if not isinstance(event, PointUpdate):
            return
        spec = self._ranges.get((event.device, event.point))
        if spec is None or event.quality not in READABLE or event.value is None:
            return
        cls, low, high, unit = spec
        try:
            value = float(event.value)
        except (TypeError, ValueError):
            return
        if value != value:
            return
        active = not low <= value <= high
        where = f"{event.device}.{event.point}"
        message = (
            f"{where} = {value:g} {unit}, outside {low:g}..{high:g}"
            if active
            else f"{where} = {value:g} {unit}, back in range"
        )
        self._report(cls, where, active, message,
                     device=event.device, zone=self._devices.get(event.device))  # fmt: skip
