"""Access decision latency: parse + verify + decide (+ SQLite record) vs a bare Ed25519 verify.

Run from the repo root: `.venv/bin/python bench/scan.py [--scans 1000]`.

Prints p50/p99 per stage over N scans, each next to a bare `Ed25519PublicKey.verify`
measured in the same run, and the ratio. This is the pure part of the issue-7 benchmark;
the scan-to-relay figure (pty scanner -> decision -> Modbus coil ack) needs the
drivers and is wired by the lead on top of `AccessService.on_line`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access import (
    SCHEMA,
    AccessService,
    AccessStore,
    BookingView,
    CredentialKind,
    DecisionContext,
    Direction,
    GateSpec,
    IssuerKey,
    KeyRing,
    PassFields,
    PassUsage,
    QrCredential,
    RateLimitSettings,
    ReaderLimiter,
    ReaderSpec,
    Reason,
    RevocationKind,
    SiteAccess,
    decide,
    issue_pass,
    parse_pass,
)
from edge.clock import SimClock
from edge.storage import Database

SITE = "wcp-main"
START = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=5)


class Bookings:
    def __init__(self, n: int) -> None:
        self._items = {
            f"b-{i}": BookingView(
                f"b-{i}", SITE, START, START + timedelta(hours=1), frozenset({"court-3"})
            )
            for i in range(n)
        }

    def by_id(self, booking_id: str) -> BookingView | None:
        return self._items.get(booking_id)

    def for_member(self, member_id: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        return []

    def for_plate(self, plate: str, start: datetime, end: datetime) -> Sequence[BookingView]:
        return []


class NoState:
    def usage(self, pass_id: str) -> PassUsage:
        return PassUsage()

    def is_revoked(self, kind: RevocationKind, value: str) -> bool:
        return False


def percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[98], statistics.fmean(ms)


def timed(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


async def timed_async(fn: Callable[[int], Awaitable[object]], n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - t0)
    return out


async def main(n: int) -> None:
    key = Ed25519PrivateKey.generate()
    ring = KeyRing([IssuerKey("k1", key.public_key())])
    gates = [GateSpec("gate-main", frozenset({"court-3"}), Direction.IN)]
    site = SiteAccess.build(SITE, ring, gates)

    def mint(prefix: str) -> list[str]:
        return [
            issue_pass(
                key,
                "k1",
                PassFields(
                    pass_id=f"{prefix}-{i:06d}",
                    booking_id=f"b-{i}",
                    site=SITE,
                    not_before=START - timedelta(minutes=15),
                    expires=START + timedelta(hours=1, minutes=15),
                    entries=1,
                    zones=("court-3",),
                ),
            )
            for i in range(n)
        ]

    tokens = mint("p")
    parsed = [parse_pass(t) for t in tokens]
    public = key.public_key()
    bookings = Bookings(n)
    ctx = DecisionContext(site, bookings, NoState())

    rows: list[tuple[str, list[float]]] = []
    rows.append(
        (
            "bare Ed25519 verify",
            timed(lambda i: public.verify(parsed[i].signature, parsed[i].message), n),
        )
    )
    rows.append(
        (
            "parse + verify",
            timed(
                lambda i: ring.verify(
                    (p := parse_pass(tokens[i])).kid, p.message, p.signature, NOW
                ),
                n,
            ),
        )
    )
    rows.append(
        (
            "parse + verify + decide (memory)",
            timed(lambda i: decide(QrCredential(tokens[i]), "gate-main", NOW, ctx), n),
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(Path(tmp) / "bench.db", [SCHEMA])
        try:
            store = AccessStore(db, site, lambda conn: bookings)
            decisions: list[Reason] = []

            async def store_scan(i: int) -> None:
                d = await store.decide(QrCredential(tokens[i]), "gate-main", NOW)
                decisions.append(d.reason)

            rows.append(
                ("... + SQLite decide+record (granted, fsync)", await timed_async(store_scan, n))
            )
            refused: list[Reason] = []

            async def replay(i: int) -> None:
                d = await store.decide(QrCredential(tokens[i]), "gate-main", NOW)
                refused.append(d.reason)

            rows.append(("... + SQLite decide (replay refused)", await timed_async(replay, n)))
            clock = SimClock(NOW, rate=1.0)  # real time, starting inside the bookings
            service = AccessService(
                AccessStore(db, site, lambda conn: bookings),
                clock,
                ReaderLimiter(clock.monotonic, RateLimitSettings(rate_per_s=1e9, burst=10**9)),
                subject_salt=b"bench",
            )
            reader = ReaderSpec("qr-1", "gate-main", CredentialKind.QR)
            lines = [t.encode() + b"\r\n" for t in mint("s")]
            served: list[str] = []

            async def on_line(i: int) -> None:
                event = await service.on_line(reader, lines[i])
                served.append(event.reason if event else "dropped")

            rows.append(
                ("AccessService.on_line (granted, +limiter/event)", await timed_async(on_line, n))
            )
        finally:
            db.close()
    assert set(decisions) == {Reason.GRANTED}, set(decisions)
    assert set(refused) == {Reason.USED_UP}, set(refused)
    assert set(served) == {"granted"}, set(served)

    base_p50, base_p99, _ = percentiles(rows[0][1])
    print(f"access decision latency over {n} scans (token {len(tokens[0])} chars)")
    print(f"{'stage':46} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'x p50':>7} {'x p99':>7}")
    for name, samples in rows:
        p50, p99, mean = percentiles(samples)
        print(
            f"{name:46} {p50:8.3f} {p99:8.3f} {mean:8.3f}"
            f" {p50 / base_p50:7.1f} {p99 / base_p99:7.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scans", type=int, default=1000)
    args = parser.parse_args()
    if args.scans < 100:
        parser.error("--scans must be >= 100 for a p99")
    import structlog

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # logs off: timing only
    asyncio.run(main(args.scans))
