"""Level-triggered re-evaluation: at each change instant, after clock jumps, on demand.

`evaluate(now)` does the work and returns the next instant at which anything would
change (or None). The loop never trusts a computed sleep across a wall-clock jump: it
sleeps in bounded slices, and a jump (NTP sync on a Pi with no RTC) or `poke()`
(new bookings, a device came back) triggers an immediate re-evaluation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from edge.clock import Clock, JumpDetector

log = structlog.get_logger("edge.scheduler")

Evaluate = Callable[[datetime], Awaitable[datetime | None]]


class Scheduler:
    def __init__(
        self,
        clock: Clock,
        evaluate: Evaluate,
        slice_s: float = 1.0,
        jump_threshold_s: float = 2.0,
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._evaluate = evaluate
        self._slice = slice_s
        self._jumps = JumpDetector(clock, jump_threshold_s)
        self._poked = asyncio.Event()
        self._on_beat = on_beat
        self.evaluations = 0
        self.jumps_seen = 0

    def poke(self) -> None:
        """Ask for a re-evaluation now (inputs changed)."""
        self._poked.set()

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        next_at = await self._run_once()
        if ready is not None:
            ready()
        while True:
            if self._on_beat is not None:
                self._on_beat()
            now = self._clock.now()
            remaining = self._slice if next_at is None else (next_at - now).total_seconds()
            if remaining > 0:
                await self._wait(min(remaining, self._slice))
            jump = self._jumps.check()
            if jump is not None:
                self.jumps_seen += 1
                log.warning("clock_jump", seconds=round(jump, 3))
            due = next_at is not None and self._clock.now() >= next_at
            if due or jump is not None or self._poked.is_set():
                self._poked.clear()
                next_at = await self._run_once()

    async def _wait(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        poked = asyncio.ensure_future(self._poked.wait())
        try:
            await asyncio.wait({sleeper, poked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            poked.cancel()

    async def _run_once(self) -> datetime | None:
        self.evaluations += 1
        now = self._clock.now()
        next_at = await self._evaluate(now)
        if next_at is not None and next_at <= now:
            # A next instant that is not in the future would spin: wait a slice instead.
            log.warning("next_change_not_in_future", next_at=next_at.isoformat())
            return now + timedelta(seconds=self._slice)
        return next_at
