"""Liveness: WATCHDOG=1 is sent only while the loop and the critical tasks prove alive.

Each critical task calls `beat(name)` every time round its loop. The watchdog
pinger sends WATCHDOG=1 only if every registered task beat within its allowance and
the loop itself woke on time; a hung poll loop or a blocked event loop stops the
pings, and systemd restarts the daemon.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from edge.clock import Clock
from edge.notify import Notifier

log = structlog.get_logger("edge.liveness")


@dataclass
class Liveness:
    clock: Clock
    beats: dict[str, float] = field(default_factory=dict)
    allowances: dict[str, float] = field(default_factory=dict)

    def register(self, name: str, allowance_s: float) -> None:
        """Declare a critical task that must beat at least every `allowance_s`."""
        self.allowances[name] = allowance_s
        self.beats[name] = self.clock.monotonic()

    def unregister(self, name: str) -> None:
        self.allowances.pop(name, None)
        self.beats.pop(name, None)

    def beat(self, name: str) -> None:
        self.beats[name] = self.clock.monotonic()

    def stale(self) -> list[str]:
        now = self.clock.monotonic()
        return [n for n, a in self.allowances.items() if now - self.beats.get(n, 0.0) > a]


async def run_watchdog(notifier: Notifier, liveness: Liveness, interval: float) -> None:
    """Ping systemd every `interval` while healthy; a late wake-up means the loop was blocked."""
    loop = asyncio.get_running_loop()
    was_healthy = True
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        lag = loop.time() - before - interval
        stale = liveness.stale()
        healthy = not stale and lag < interval
        if healthy:
            notifier.watchdog()
        if healthy != was_healthy:
            if healthy:
                log.info("watchdog_recovered")
            else:
                log.error("watchdog_withheld", stale_tasks=stale, loop_lag_s=round(lag, 3))
            was_healthy = healthy
