"""The live point table: last value and quality of every `device.point`, fanned out.

Buses write into it; the reconciler, the emergency watcher, the uplink and edgectl
read from it or subscribe. One poll, many listeners.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from drivers.modbus.codec import Value
from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality

log = structlog.get_logger("edge.points")

Listener = Callable[[BusEvent], None]


@dataclass(frozen=True, slots=True)
class PointState:
    value: Value | None
    quality: Quality
    ts: datetime


class PointTable:
    def __init__(self) -> None:
        self._points: dict[str, PointState] = {}
        self._online: dict[str, bool] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every update and device status; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: BusEvent) -> None:
        if isinstance(event, PointUpdate):
            key = f"{event.device}.{event.point}"
            self._points[key] = PointState(event.value, event.quality, event.ts)
        elif isinstance(event, DeviceStatus):
            self._online[event.device] = event.online
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one faulty listener must not starve the others
                log.exception("point_listener_failed")

    def get(self, ref: str) -> PointState | None:
        return self._points.get(ref)

    def online(self, device: str) -> bool | None:
        return self._online.get(device)

    def items(self) -> list[tuple[str, PointState]]:
        return sorted(self._points.items())

    def devices(self) -> dict[str, bool]:
        return dict(self._online)
