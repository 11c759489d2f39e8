"""Point changes upstream as soon as they are read: `state` messages, event-driven.

The `Feed` hands every point update to a `StateFeed`. The first change opens a short window on
the event loop (`[uplink] state_window_ms`, 2 ms by default; 0 = the end of the loop turn);
what is read meanwhile (all points of one block read, devices polled in the same instant) goes
up as one `state` message, and the outbox commits each loop turn's messages in one transaction
(group commit). So a change waits milliseconds, not a fixed tick, before the outbox has it.

A point whose value, quality and unit equal what was last sent is dropped: the drivers report
unchanged values again every `report_every` to keep the point table fresh, which the cloud does
not need. Instead, every `state_refresh_s` (900 s by default, 0 = never) the latest value of
every point goes up in messages flagged `heartbeat: true`, so a cloud that lost something (a
`state` message evicted from a full outbox while the link was down) converges.

Nothing offered is lost when the outbox refuses it (`OutboxClosed`, or not `accepted` because
its memory spill was full while the disk refused writes): the points stay pending, newer values
replacing older ones, and are offered again on the next change or after a backoff.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Protocol

import structlog

from edge.clock import Clock
from edge.uplink.backoff import Backoff
from edge.uplink.contract import PointValue, StateBody
from edge.uplink.errors import OutboxClosed
from edge.uplink.outbox import Enqueued

log = structlog.get_logger("edge.feed_state")

MAX_POINTS_PER_MESSAGE = 500
"""A refresh (or a burst) of thousands of points goes in messages of at most this many."""
RETRY_INITIAL_S = 0.5
RETRY_CAP_S = 30.0
"""Waits (real time, on the loop) before offering refused points again."""


class StateSink(Protocol):
    """What the state feed needs of the outbox."""

    def put_nowait(self, body: StateBody) -> Enqueued: ...


def _same(a: PointValue, b: PointValue) -> bool:
    """Same value (of the same type; NaN equals NaN), quality and unit; `ts` does not count."""
    x, y = a.value, b.value
    if a.quality != b.quality or a.unit != b.unit or type(x) is not type(y):
        return False
    return x == y or (
        isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
    )


class StateFeed:
    """Coalesces point updates into `state` bodies for the outbox; `serve()` runs its timers.

    `offer()` is called synchronously by the point table's subscribers. Until `serve()` runs
    (and after it stops) offered changes are held; `serve()` sends them first.
    """

    def __init__(self, outbox: StateSink) -> None:
        self._outbox = outbox
        self._latest: dict[str, PointValue] = {}
        self._sent: dict[str, PointValue] = {}
        self._pending: dict[str, PointValue] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._window_s = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._retry = Backoff(RETRY_INITIAL_S, RETRY_CAP_S)
        self._refusing = False
        self.messages = 0
        """`state` messages the outbox accepted (changes and refreshes)."""
        self.dropped_unchanged = 0
        """Updates not sent because they equal what was last sent."""

    @property
    def pending(self) -> int:
        """Changed points not yet accepted by the outbox."""
        return len(self._pending)

    def offer(self, value: PointValue) -> None:
        """A point was read: send it within the window if it differs from what was sent."""
        ref = value.point
        self._latest[ref] = value
        last = self._sent.get(ref)
        if last is not None and _same(last, value):
            # Unchanged, or changed and back within the window: the cloud has this value.
            self.dropped_unchanged += 1
            self._pending.pop(ref, None)
            return
        self._pending[ref] = value
        self._arm(self._window_s)

    async def serve(
        self, clock: Clock, *, window_s: float, refresh_s: float, ready: Callable[[], None]
    ) -> None:
        """Send changes within `window_s` and a flagged refresh every `refresh_s` (0: never)."""
        self._loop = asyncio.get_running_loop()
        self._window_s = window_s
        self.flush()  # what was held while not serving
        ready()
        try:
            if refresh_s <= 0:
                await asyncio.Event().wait()
            while True:
                await clock.sleep(refresh_s)
                self.refresh()
        finally:
            self._disarm()
            self.flush()  # hand what is held to the outbox before it closes
            self._loop = None

    def flush(self) -> None:
        """Offer the pending changes to the outbox now; what it refuses stays pending."""
        self._disarm()
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        refused = self._send(list(batch.values()), heartbeat=False)
        if refused:
            for v in refused:  # nothing newer can have arrived: offer() runs on this loop
                self._pending.setdefault(v.point, v)
            self._arm(self._retry.next())
        elif self._refusing:
            log.info("state_feed_resumed")
            self._refusing = False
            self._retry.reset()

    def refresh(self) -> None:
        """Send pending changes, then every point's latest value flagged `heartbeat: true`."""
        self.flush()
        if self._pending:
            return  # the outbox refuses: the refresh waits for the next period
        if not self._send(list(self._latest.values()), heartbeat=True):
            log.debug("state_refreshed", points=len(self._latest))

    def _send(self, points: list[PointValue], *, heartbeat: bool) -> list[PointValue]:
        """Offer `points` in messages, in order; returns those from the first refused one on."""
        for start in range(0, len(points), MAX_POINTS_PER_MESSAGE):
            if not self._put(points[start : start + MAX_POINTS_PER_MESSAGE], heartbeat):
                return points[start:]
        return []

    def _put(self, chunk: list[PointValue], heartbeat: bool) -> bool:
        try:
            enqueued = self._outbox.put_nowait(StateBody(points=chunk, heartbeat=heartbeat))
        except OutboxClosed as exc:
            reason = str(exc)
        else:
            if enqueued.accepted:
                self.messages += 1
                for v in chunk:
                    self._sent[v.point] = v
                return True
            reason = "outbox memory spill full while the disk refuses writes"
        if not self._refusing:  # log the start of a refusal, not every retry
            log.warning("state_feed_refused", reason=reason, points=len(chunk))
        self._refusing = True
        return False

    def _arm(self, delay_s: float) -> None:
        if self._timer is not None or self._loop is None:
            return
        self._timer = self._loop.call_later(delay_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.flush()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
