"""A car-park barrier on GPIO: a relay line runs its motor, a limit switch says "closed".

While the relay is energised the motor lifts the arm (full travel in `travel_s`); when it
drops, the arm comes down at the same speed, from wherever it is. The closed switch opens
as soon as the arm has left its rest (`CLOSED_BAND` of the travel) and closes again when it
is back. The switch is wired as usual: a contact to ground on a pulled-up pin, so "closed"
reads low unless `closed_active_low` is False.

Every energised period is kept in `pulses` (monotonic and wall instants), so a test measures
the pulse length as the barrier saw it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from drivers.clock import Clock
from sim.gpio import SimPins

CLOSED_BAND = 0.02
"""Fraction of the travel inside which the closed switch is still made."""


@dataclass(slots=True)
class Energised:
    """One period with the relay energised (`off_mono` None while it lasts)."""

    on_mono: float
    on_wall: datetime
    off_mono: float | None = None

    @property
    def length_s(self) -> float | None:
        return None if self.off_mono is None else self.off_mono - self.on_mono


class GpioBarrier:
    def __init__(
        self,
        device_id: str,
        pins: SimPins,
        clock: Clock,
        relay_line: int,
        *,
        relay_active_low: bool = False,
        closed_line: int | None = None,
        closed_active_low: bool = True,
        travel_s: float = 4.0,
        on_closed: Callable[[str, bool], None] | None = None,
    ) -> None:
        if travel_s <= 0:
            raise ValueError(f"barrier {device_id}: travel_s must be > 0")
        self.id = device_id
        self.pins = pins
        self.clock = clock
        self.relay_line = relay_line
        self.relay_active_low = relay_active_low
        self.closed_line = closed_line
        self.closed_active_low = closed_active_low
        self.travel_s = travel_s
        self.pulses: list[Energised] = []
        self.openings = 0
        self._on_closed = on_closed
        self._position = 0.0  # 0 closed .. 1 fully open
        self._t = clock.monotonic()
        self._energised = False
        self._closed = True
        self._timer: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] | None = None

    async def __aenter__(self) -> GpioBarrier:
        self._unwatch = self.pins.watch_outputs(self._on_output)
        self._drive_switch()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._unwatch is not None:
            self._unwatch()
        await self._cancel_timer()

    # State.
    @property
    def energised(self) -> bool:
        return self._energised

    @property
    def position(self) -> float:
        self._move()
        return self._position

    @property
    def closed(self) -> bool:
        self._move()
        return self._closed

    def truth(self) -> dict[str, object]:
        last = next((p.length_s for p in reversed(self.pulses) if p.length_s is not None), None)
        return {
            "energised": self._energised,
            "position": round(self.position, 3),
            "closed": self._closed,
            "pulses": len(self.pulses),
            "openings": self.openings,
            "last_pulse_s": last,
        }

    # Physics.
    def _on_output(self, line: int, level: bool) -> None:
        if line != self.relay_line:
            return
        energised = level != self.relay_active_low
        if energised == self._energised:
            return
        self._move()
        self._energised = energised
        now = self.clock.monotonic()
        if energised:
            self.pulses.append(Energised(now, self.clock.now()))
        elif self.pulses and self.pulses[-1].off_mono is None:
            self.pulses[-1].off_mono = now
        self._arm()

    def _move(self) -> None:
        now = self.clock.monotonic()
        dt = max(0.0, now - self._t)
        self._t = now
        step = dt / self.travel_s
        if self._energised:
            self._position = min(1.0, self._position + step)
        else:
            self._position = max(0.0, self._position - step)
        closed = self._position <= CLOSED_BAND
        if closed != self._closed:
            self._closed = closed
            if not closed:
                self.openings += 1
            self._drive_switch()
            if self._on_closed is not None:
                self._on_closed(self.id, closed)

    def _drive_switch(self) -> None:
        if self.closed_line is not None:
            self.pins.drive(self.closed_line, self._closed != self.closed_active_low)

    def _next_event_s(self) -> float | None:
        """Seconds until the switch changes or the arm stops, None when it rests."""
        pos = self._position
        if self._energised:
            targets = [t for t in (CLOSED_BAND + 1e-9, 1.0) if t > pos]
            return None if not targets else (targets[0] - pos) * self.travel_s
        targets = [t for t in (CLOSED_BAND, 0.0) if t < pos]
        return None if not targets else (pos - targets[0]) * self.travel_s

    def _arm(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().create_task(self._run(), name=f"barrier:{self.id}")

    async def _run(self) -> None:
        while (wait := self._next_event_s()) is not None:
            await self.clock.sleep(wait + 1e-6)
            self._move()

    async def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
