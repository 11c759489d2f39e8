"""Injected time: wall time (timezone-aware, UTC) plus monotonic time.

Everything time-dependent takes a `Clock` (the one protocol, in the leaf module
`drivers.clock`) so that tests step a simulated clock through a whole day in seconds,
and the demo runs it accelerated.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from drivers.clock import Clock, SystemClock

__all__ = [
    "Clock",
    "JumpDetector",
    "SimClock",
    "SyncReporting",
    "SystemClock",
    "WireClock",
    "field_clock",
]


@runtime_checkable
class SyncReporting(Protocol):
    """A clock that knows whether its wall time is synchronised (a simulated NTP state);
    the real clock asks the kernel instead (edge.alarms.kernel_clock_synced)."""

    def synced(self) -> bool | None:
        """True when synchronised, False when not, None when unknown."""
        ...


class SimClock:
    """A simulated clock, stepped by the test or running `rate` times real time.

    Stepped (rate=None): time moves only by `advance()`/`advance_to()`, which wake
    sleepers in deadline order. Accelerated (rate=60.0): sleeps last 1/rate of real
    time. `jump()` moves wall time without moving monotonic time, as NTP does.
    """

    def __init__(self, start: datetime, rate: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock start must be timezone-aware")
        if rate is not None and rate <= 0:
            raise ValueError("SimClock rate must be > 0")
        self._rate = rate
        self._wall0 = start.astimezone(UTC)
        self._mono0 = 0.0
        self._real0 = time.monotonic()
        self._stepped = 0.0
        self._wall_offset = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.ntp_synced: bool | None = True
        """What `synced()` says: the simulator's `clock_unsynced` fault sets it False."""

    @property
    def rate(self) -> float | None:
        return self._rate

    def monotonic(self) -> float:
        if self._rate is None:
            return self._mono0 + self._stepped
        return self._mono0 + (time.monotonic() - self._real0) * self._rate

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.monotonic() + self._wall_offset)

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        if self._rate is not None:
            await asyncio.sleep(seconds / self._rate)
            return
        if seconds == 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.monotonic() + seconds, next(self._seq), fut))
        await fut

    def synced(self) -> bool | None:
        return self.ntp_synced

    def jump(self, seconds: float) -> None:
        """Move wall time by `seconds` (either sign) without moving monotonic time."""
        self._wall_offset += seconds

    async def advance(self, seconds: float) -> None:
        """Stepped mode: move time forward, waking each sleeper at its own instant."""
        if self._rate is not None:
            raise RuntimeError("advance() is for a stepped SimClock (rate=None)")
        target = self.monotonic() + max(0.0, seconds)
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            self._stepped = max(self._stepped, due - self._mono0)
            if not fut.done():
                fut.set_result(None)
            # Let the woken task run (and perhaps schedule its next sleep) before going on.
            await self._settle()
        self._stepped = target - self._mono0
        await self._settle()

    @staticmethod
    async def _settle() -> None:
        """Give ready tasks a few turns so that they register their next sleeps."""
        for _ in range(8):
            await asyncio.sleep(0)

    async def advance_to(self, wall: datetime) -> None:
        await self.advance((wall - self.now()).total_seconds())


class JumpDetector:
    """Notices wall-clock jumps (NTP sync on a Pi with no RTC) by watching wall - monotonic."""

    def __init__(self, clock: Clock, threshold_s: float = 2.0) -> None:
        self._clock = clock
        self._threshold = threshold_s
        self._offset = self._current_offset()

    def _current_offset(self) -> float:
        return self._clock.now().timestamp() - self._clock.monotonic()

    def check(self) -> float | None:
        """The size of the jump since the last check in seconds, or None when there was none."""
        offset = self._current_offset()
        delta = offset - self._offset
        self._offset = offset
        return delta if abs(delta) >= self._threshold else None


class WireClock:
    """Simulated wall time with real monotonic time and real sleeps.

    For field buses under an accelerated clock: frames still take real time on the
    wire, so poll intervals and timeouts stay in real seconds, while the values they
    read are stamped with the simulated wall time.
    """

    def __init__(self, wall: Clock) -> None:
        self._wall = wall

    def now(self) -> datetime:
        return self._wall.now()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def field_clock(clock: Clock) -> Clock:
    """The clock buses should use: real time under an accelerated simulated clock."""
    if isinstance(clock, SimClock) and clock.rate is not None:
        return WireClock(clock)
    return clock
