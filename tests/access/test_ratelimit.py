"""Per-reader duplicate suppression and rate limiting on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.access import RateLimitSettings, ReaderLimiter, Verdict
from edge.clock import SimClock


def _clock() -> SimClock:
    return SimClock(datetime(2026, 11, 21, 18, 0, tzinfo=UTC))


async def test_one_code_repeated_50_times_a_second_gives_one_decision() -> None:
    """A scanner repeating one code at 50/s for 3 s is accepted once; the rest are counted."""
    clock = _clock()
    limiter = ReaderLimiter(clock.monotonic)
    verdicts = []
    for _ in range(150):
        verdicts.append(limiter.check("qr-1", b"TOKEN"))
        await clock.advance(0.02)
    assert verdicts.count(Verdict.ACCEPT) == 1
    assert verdicts.count(Verdict.DUPLICATE) == 149
    stats = limiter.stats("qr-1")
    assert (stats.accepted, stats.duplicates, stats.rate_limited) == (1, 149, 0)


async def test_same_code_after_a_quiet_spell_is_decided_again() -> None:
    """The same code presented again after the duplicate window gets a new decision."""
    clock = _clock()
    limiter = ReaderLimiter(clock.monotonic, RateLimitSettings(duplicate_window_s=2.0))
    assert limiter.check("qr-1", b"T") is Verdict.ACCEPT
    await clock.advance(1.9)
    assert limiter.check("qr-1", b"T") is Verdict.DUPLICATE
    await clock.advance(2.1)
    assert limiter.check("qr-1", b"T") is Verdict.ACCEPT


async def test_distinct_codes_are_rate_limited_and_reported_once_per_burst() -> None:
    """Beyond the burst, the first refusal is reported and the rest only counted; refill resumes."""
    clock = _clock()
    limiter = ReaderLimiter(clock.monotonic, RateLimitSettings(rate_per_s=2.0, burst=3))
    verdicts = [limiter.check("qr-1", f"code-{i}".encode()) for i in range(10)]
    assert verdicts[:3] == [Verdict.ACCEPT] * 3
    assert verdicts[3] is Verdict.RATE_LIMITED
    assert set(verdicts[4:]) == {Verdict.FLOODING}
    await clock.advance(0.5)
    assert limiter.check("qr-1", b"code-new") is Verdict.ACCEPT
    assert limiter.check("qr-1", b"code-new2") is Verdict.RATE_LIMITED
    assert limiter.stats("qr-1").rate_limited == 8


async def test_readers_are_limited_independently() -> None:
    """One flooding reader does not limit another."""
    clock = _clock()
    limiter = ReaderLimiter(clock.monotonic, RateLimitSettings(burst=1))
    assert limiter.check("qr-1", b"a") is Verdict.ACCEPT
    assert limiter.check("qr-1", b"b") is Verdict.RATE_LIMITED
    assert limiter.check("qr-2", b"b") is Verdict.ACCEPT
    assert limiter.stats("nobody").accepted == 0


async def test_alternating_codes_are_not_duplicates() -> None:
    """Two codes alternating are distinct scans (only the last code is suppressed)."""
    clock = _clock()
    limiter = ReaderLimiter(clock.monotonic, RateLimitSettings(burst=10))
    assert [limiter.check("r", c) for c in (b"a", b"b", b"a")] == [Verdict.ACCEPT] * 3
