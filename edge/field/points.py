"""The live point table: last value and quality of every `device.point`, fanned out.

Buses write into it; the reconciler, the emergency watcher, the uplink and edgectl
read from it or subscribe. One poll, many listeners.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from drivers.modbus.codec import Value
from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from edge.topic import Subscription, Topic

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
        self.events: Topic[BusEvent] = Topic("points")

    def subscribe(self, listener: Listener) -> Subscription:
        """Call `listener` with every update and device status, e.g. `with table.subscribe(f):`."""
        return self.events.subscribe(listener)

    def publish(self, event: BusEvent) -> None:
        if isinstance(event, PointUpdate):
            # Interned: the inventory and the feed hold the same string (4,000 points).
            key = sys.intern(f"{event.device}.{event.point}")
            self._points[key] = PointState(event.value, event.quality, event.ts)
        elif isinstance(event, DeviceStatus):
            self._online[event.device] = event.online
        self.events.publish(event)

    def get(self, ref: str) -> PointState | None:
        return self._points.get(ref)

    def online(self, device: str) -> bool | None:
        return self._online.get(device)

    def items(self) -> list[tuple[str, PointState]]:
        return sorted(self._points.items())

    def devices(self) -> dict[str, bool]:
        return dict(self._online)
