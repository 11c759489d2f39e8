"""Fire system and HVAC faults, found by role.

- `fire.alarm` on a panel -> `fire_alarm` (critical); `fire.fault` -> `fire_fault`;
  `fire.loop_fault` of loop N -> `fire_loop_fault` (source `panel.loopN`).
- `fire.device_status` (one character per field device, drivers.modbus.status): each
  device in alarm -> `fire_device_alarm`, in fault -> `fire_device_fault` (source
  `panel.L3D017`: loop 3, address 17). Only the entries that change are looked at.
- `hvac.fault` (a fault bit, or a fault code where 0 is no fault) -> `hvac_fault`.

The life-safety linkage does not wait for any of this: it reads `fire.alarm` points
directly (edge.automation.emergency).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.modbus.events import BusEvent, PointUpdate
from drivers.modbus.status import EntryState, StatusTextError, changes
from edge.alarms.field import READABLE, Report


@dataclass
class FirePoints:
    """(device, point) of each role the detector follows; loop faults with their group."""

    alarm: set[tuple[str, str]] = field(default_factory=set)
    fault: set[tuple[str, str]] = field(default_factory=set)
    loop_fault: dict[tuple[str, str], str] = field(default_factory=dict)
    device_status: set[tuple[str, str]] = field(default_factory=set)
    hvac_fault: set[tuple[str, str]] = field(default_factory=set)


def _active(value: object) -> bool:
    """A fault bit set, or a fault code other than 0 (a text code other than empty/'0')."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return value not in (None, "", "0", "ok", "none")


class FireDetector:
    def __init__(self, report: Report, points: FirePoints, zones: dict[str, str | None]) -> None:
        self._report = report
        self._p = points
        self._zones = zones
        self._tables: dict[tuple[str, str], str] = {}

    def on_event(self, event: BusEvent) -> None:
        if not isinstance(event, PointUpdate) or event.quality not in READABLE:
            return
        key = (event.device, event.point)
        p, dev = self._p, event.device
        zone = self._zones.get(dev)
        if key in p.alarm:
            on = _active(event.value)
            text = "fire panel reports an alarm" if on else "fire panel alarm cleared"
            self._report("fire_alarm", dev, on, f"{dev}: {text}", device=dev, zone=zone)
        elif key in p.fault:
            on = _active(event.value)
            text = "fire panel reports a fault" if on else "fire panel fault cleared"
            self._report("fire_fault", dev, on, f"{dev}: {text}", device=dev, zone=zone)
        elif key in p.loop_fault:
            loop = p.loop_fault[key]
            on = _active(event.value)
            text = f"{loop} fault" if on else f"{loop} fault cleared"
            self._report("fire_loop_fault", f"{dev}.{loop}", on, f"{dev}: {text}",
                         device=dev, zone=zone)  # fmt: skip
        elif key in p.device_status and isinstance(event.value, str):
            self._table(key, event.value, zone)
        elif key in p.hvac_fault:
            on = _active(event.value)
            text = f"fault {event.value}" if on else "no fault"
            self._report("hvac_fault", dev, on, f"{dev}: {text}", device=dev, zone=zone)

    def _table(self, key: tuple[str, str], text: str, zone: str | None) -> None:
        dev = key[0]
        try:
            found = changes(self._tables.get(key), text)
        except StatusTextError:
            return  # an undecodable table: the bus marks its quality, nothing to judge
        self._tables[key] = text
        for c in found:
            source = f"{dev}.L{c.group}D{c.entry:03d}"
            where = f"{dev} loop {c.group} device {c.entry}"
            self._report(
                "fire_device_alarm", source, c.new is EntryState.ALARM,
                f"{where}: {'ALARM' if c.new is EntryState.ALARM else 'no alarm'}",
                device=dev, zone=zone,
            )  # fmt: skip
            self._report(
                "fire_device_fault", source, c.new is EntryState.FAULT,
                f"{where}: {'fault' if c.new is EntryState.FAULT else 'no fault'}",
                device=dev, zone=zone,
            )  # fmt: skip
