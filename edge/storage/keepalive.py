"""Ask systemd for more start-up time while a long check or salvage runs.

`Keepalive(extend)` is called as often as convenient (every batch of rows, every few thousand
SQLite instructions); it calls `extend(grant_s)` once `every_s` of real time have passed since
its first call, then at most once every `every_s`: a quick start sends nothing.
The daemon passes `Notifier.extend_timeout`, which sends `EXTEND_TIMEOUT_USEC`: systemd then
waits `grant_s` more before it gives up on the start, so a slow SD card is not killed mid-way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

GRANT_S = 20.0
EVERY_S = 5.0


class Keepalive:
    def __init__(
        self,
        extend: Callable[[float], object] | None = None,
        every_s: float = EVERY_S,
        grant_s: float = GRANT_S,
    ) -> None:
        self._extend = extend
        self._every = every_s
        self._grant = grant_s
        self._last: float | None = None
        """When the last extension was sent (or the work started)."""
        self._lock = threading.Lock()
        self.sent = 0
        """How many extensions were asked for (for tests and the start-up log)."""

    def __call__(self) -> None:
        if self._extend is None:
            return
        now = time.monotonic()
        with self._lock:
            if self._last is None:
                self._last = now
            if now - self._last < self._every:
                return
            self._last = now
            self.sent += 1
        self._extend(self._grant)
