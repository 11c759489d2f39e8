"""Per-reader duplicate suppression and rate limiting, before any decision is made.

A scanner held over a phone repeats the same code many times a second: while the same
payload keeps arriving on one reader within `duplicate_window_s` of its previous
arrival, the repeats are counted and dropped (one decision in all). Distinct payloads
are limited by a token bucket per reader; the first refusal of a burst is reported
(`RATE_LIMITED`), the rest only counted (`FLOODING`), so a noisy line cannot flood
the journal or the uplink.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from edge.tokenbucket import TokenBucket


class Verdict(StrEnum):
    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    FLOODING = "flooding"


@dataclass(frozen=True)
class RateLimitSettings:
    rate_per_s: float = 2.0
    """Sustained distinct scans per second per reader."""
    burst: int = 5
    """Distinct scans a reader may send at once after being quiet."""
    duplicate_window_s: float = 2.0
    """A repeat of the last payload within this long of its previous arrival is dropped."""


@dataclass
class ReaderStats:
    accepted: int = 0
    duplicates: int = 0
    rate_limited: int = 0


@dataclass
class _Reader:
    bucket: TokenBucket
    last_digest: bytes = b""
    last_seen: float = 0.0
    limited: bool = False
    stats: ReaderStats = field(default_factory=ReaderStats)


class ReaderLimiter:
    """One per daemon; `monotonic` is the injected clock's `monotonic`."""

    def __init__(
        self, monotonic: Callable[[], float], settings: RateLimitSettings | None = None
    ) -> None:
        self._monotonic = monotonic
        self._settings = settings or RateLimitSettings()
        self._readers: dict[str, _Reader] = {}

    def check(self, reader: str, payload: bytes) -> Verdict:
        now = self._monotonic()
        s = self._settings
        state = self._readers.get(reader)
        if state is None:
            state = _Reader(TokenBucket(s.rate_per_s, s.burst, self._monotonic))
            self._readers[reader] = state
        stats = state.stats
        # Only a digest is kept: raw tokens never stay in memory longer than the scan.
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        if digest == state.last_digest and 0 <= now - state.last_seen < s.duplicate_window_s:
            state.last_seen = now
            stats.duplicates += 1
            return Verdict.DUPLICATE
        if not state.bucket.take():
            stats.rate_limited += 1
            first = not state.limited
            state.limited = True
            return Verdict.RATE_LIMITED if first else Verdict.FLOODING
        state.limited = False
        state.last_digest = digest
        state.last_seen = now
        stats.accepted += 1
        return Verdict.ACCEPT

    def stats(self, reader: str) -> ReaderStats:
        state = self._readers.get(reader)
        if state is None:
            return ReaderStats()
        return ReaderStats(**vars(state.stats))
