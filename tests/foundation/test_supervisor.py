"""Components start in order, crash without taking the daemon down, and are restarted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from edge.clock import SystemClock
from edge.supervisor import StartFailed, Supervisor


class Flaky:
    def __init__(self, name: str, crashes: int, log: list[str]) -> None:
        self.name = name
        self.crashes = crashes
        self.log = log

    async def run(self, ready: Callable[[], None]) -> None:
        self.log.append(f"start {self.name}")
        ready()
        await asyncio.sleep(0.01)
        if self.crashes > 0:
            self.crashes -= 1
            raise RuntimeError("boom")
        await asyncio.Event().wait()


class NeverReady:
    name = "broken"

    async def run(self, ready: Callable[[], None]) -> None:
        raise OSError("port in use")


async def test_start_order_and_restart() -> None:
    """Start waits for ready in order; a crashed component is restarted with backoff."""
    log: list[str] = []
    sup = Supervisor(SystemClock())
    await sup.start(Flaky("buses", 0, log))
    await sup.start(Flaky("uplink", 2, log))
    assert log[:2] == ["start buses", "start uplink"]
    await asyncio.sleep(0.5 * 1.2 + 1.0 * 1.2 + 0.3)
    assert log.count("start uplink") == 3
    health = sup.health()
    assert health["uplink"]["restarts"] == 2 and health["buses"]["restarts"] == 0
    assert "boom" in str(health["uplink"]["last_error"])
    await sup.stop_all()
    assert sup.names == []


async def test_failure_before_ready_is_raised() -> None:
    """A component that dies before ready fails the start with its cause."""
    sup = Supervisor(SystemClock())
    with pytest.raises(StartFailed, match="port in use"):
        await sup.start(NeverReady())
    assert sup.names == []
