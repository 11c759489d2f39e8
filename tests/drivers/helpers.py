"""Helpers for bus tests: an event recorder and quick device configs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality


class Recorder:
    """Collects bus events and waits for conditions on them."""

    def __init__(self) -> None:
        self.events: list[BusEvent] = []

    def __call__(self, event: BusEvent) -> None:
        self.events.append(event)

    def updates(self, device: str | None = None, point: str | None = None) -> list[PointUpdate]:
        return [
            e
            for e in self.events
            if isinstance(e, PointUpdate)
            and (device is None or e.device == device)
            and (point is None or e.point == point)
        ]

    def statuses(self, device: str) -> list[DeviceStatus]:
        return [e for e in self.events if isinstance(e, DeviceStatus) and e.device == device]

    def last(self, device: str, point: str) -> PointUpdate | None:
        ups = self.updates(device, point)
        return ups[-1] if ups else None

    def quality(self, device: str, point: str) -> Quality | None:
        last = self.last(device, point)
        return None if last is None else last.quality

    async def wait_for(self, cond: Callable[[], Any], within_s: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not cond():
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {within_s}s")
            await asyncio.sleep(0.01)
