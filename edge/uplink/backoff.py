"""Reconnect delays: exponential with jitter, capped, so a fleet does not reconnect in step."""

from __future__ import annotations

import random


class Backoff:
    """`next()` gives d/2 + uniform(0, d/2) with d = min(cap, initial * 2**attempt)."""

    def __init__(self, initial_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or cap_s < initial_s:
            raise ValueError("backoff needs 0 < initial_s <= cap_s")
        self._initial = initial_s
        self._cap = cap_s
        self._rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self._cap, self._initial * 2 ** min(self.attempt, 30))
        self.attempt += 1
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        self.attempt = 0
