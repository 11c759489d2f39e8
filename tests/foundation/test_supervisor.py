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
    crashes = {"uplink": 2}

    def flaky(name: str) -> Flaky:
        # Each restart is a fresh instance: the crash budget lives outside it.
        left = crashes.get(name, 0)
        crashes[name] = max(0, left - 1)
        return Flaky(name, min(left, 1), log)

    await sup.start("buses", lambda: flaky("buses"))
    await sup.start("uplink", lambda: flaky("uplink"))
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
        await sup.start("broken", NeverReady)
    assert sup.names == []


async def test_a_restart_is_a_fresh_instance() -> None:
    """After a crash the supervisor builds a new instance from the factory."""
    log: list[str] = []
    made: list[Flaky] = []

    def factory() -> Flaky:
        made.append(Flaky("x", 1 if not made else 0, log))
        return made[-1]

    sup = Supervisor(SystemClock())
    await sup.start("x", factory)
    await asyncio.sleep(0.5 * 1.2 + 0.3)
    assert len(made) == 2 and made[0] is not made[1]
    assert sup.instance("x") is made[1]
    await sup.stop_all()


async def test_stop_does_not_swallow_the_callers_cancellation() -> None:
    """A caller cancelled while it stops a component still ends cancelled."""

    class Slow:
        name = "slow"

        async def run(self, ready: Callable[[], None]) -> None:
            ready()
            try:
                await asyncio.Event().wait()
            finally:
                await asyncio.shield(asyncio.sleep(0.2))  # a slow, honest cleanup

    sup = Supervisor(SystemClock())
    await sup.start("slow", Slow)
    stopper = asyncio.create_task(sup.stop("slow"))
    await asyncio.sleep(0.05)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert sup.names == []
