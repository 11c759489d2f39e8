"""A token bucket on the injected clock: `burst` at once, then `rate_per_s` sustained."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, monotonic: Callable[[], float]) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._refilled_at = monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self._monotonic()
        elapsed = max(0.0, now - self._refilled_at)  # a clock set back refills nothing
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        self._refilled_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
