"""What bench/bridge.py measures, from the logs of one run: pure functions, no I/O but loading.

Inputs, all on the host's wall clock:
- changes: when the field gave a register a new value (every value names one change);
- reads: when the field served a read of a unit's holding registers;
- values: what the subscriber received, one entry per point value (a message of edged
  carries many points), with the peer's own read time when it publishes one, and whether
  the message was an explicitly flagged refresh (edged's `heartbeat: true`).

The window [t0, t1) is the measured minute; a change inside it may be seen after t1
(the capture goes on for a tail), which is what "missed" allows for.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Change:
    t: float
    device: int
    register: int
    value: int


@dataclass(frozen=True, slots=True)
class Read:
    t: float
    device: int


@dataclass(frozen=True, slots=True)
class Seen:
    """One point value as the subscriber received it."""

    t: float
    device: int
    register: int
    value: object
    quality: str = "good"
    read_ts: float | None = None
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class Figures:
    """The field-side and MQTT-side figures of one peer in one run (times in ms unless _s)."""

    changes: int
    missed: int
    change_p50_ms: float
    change_p95_ms: float
    change_p99_ms: float
    read_p50_ms: float
    """First read serving the new value -> MQTT receive (the field's clock of the read)."""
    peer_read_p50_ms: float | None
    """The peer's own read time -> MQTT receive, when its messages carry one."""
    unchanged_per_s: float
    values_per_s: float
    poll_p95_s: float
    poll_max_s: float
    reads_per_s: float


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def load_changes(path: Path) -> list[Change]:
    with open(path, encoding="ascii", newline="") as f:
        return [
            Change(float(r["t"]), int(r["device"]), int(r["register"]), int(r["value"]))
            for r in csv.DictReader(f)
        ]


def load_reads(path: Path, table: str = "holding") -> list[Read]:
    with open(path, encoding="ascii", newline="") as f:
        return [
            Read(float(r["t"]), int(r["device"])) for r in csv.DictReader(f) if r["table"] == table
        ]


def poll_periods(reads: Iterable[Read], t0: float, t1: float) -> list[float]:
    """Seconds between successive reads of the same unit, for reads ending in [t0, t1)."""
    by_device: dict[int, list[float]] = defaultdict(list)
    for r in reads:
        by_device[r.device].append(r.t)
    out: list[float] = []
    for times in by_device.values():
        times.sort()
        out += [b - a for a, b in itertools.pairwise(times) if t0 <= b < t1]
    return out


def first_read_after(reads_of_device: Sequence[float], t: float) -> float | None:
    """The first read at or after `t` in a sorted list (the read that saw a change at t)."""
    lo, hi = 0, len(reads_of_device)
    while lo < hi:
        mid = (lo + hi) // 2
        if reads_of_device[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return reads_of_device[lo] if lo < len(reads_of_device) else None


def analyse(
    changes: Sequence[Change],
    reads: Sequence[Read],
    seen: Sequence[Seen],
    t0: float,
    t1: float,
) -> Figures:
    window = t1 - t0
    # The first time each (device, register, value) reached the subscriber.
    first: dict[tuple[int, int, object], Seen] = {}
    for s in sorted(seen, key=lambda s: s.t):
        first.setdefault((s.device, s.register, s.value), s)
    reads_by_device: dict[int, list[float]] = defaultdict(list)
    for r in reads:
        reads_by_device[r.device].append(r.t)
    for times in reads_by_device.values():
        times.sort()

    latency, read_latency, peer_read_latency = [], [], []
    counted = missed = 0
    for c in changes:
        if not t0 <= c.t < t1:
            continue
        counted += 1
        got = first.get((c.device, c.register, c.value))
        if got is None or got.t < c.t:
            missed += 1
            continue
        latency.append(got.t - c.t)
        read_t = first_read_after(reads_by_device.get(c.device, []), c.t)
        if read_t is not None and read_t <= got.t:
            read_latency.append(got.t - read_t)
        if got.read_ts is not None:
            peer_read_latency.append(got.t - got.read_ts)

    unchanged = values = 0
    previous: dict[tuple[int, int], tuple[object, str]] = {}
    for s in sorted(seen, key=lambda s: s.t):
        key = (s.device, s.register)
        before = previous.get(key)
        previous[key] = (s.value, s.quality)
        if t0 <= s.t < t1:
            values += 1
            if not s.flagged and before == (s.value, s.quality):
                unchanged += 1

    periods = poll_periods(reads, t0, t1)
    reads_in_window = sum(1 for r in reads if t0 <= r.t < t1)
    return Figures(
        changes=counted,
        missed=missed,
        change_p50_ms=1000 * percentile(latency, 50),
        change_p95_ms=1000 * percentile(latency, 95),
        change_p99_ms=1000 * percentile(latency, 99),
        read_p50_ms=1000 * percentile(read_latency, 50),
        peer_read_p50_ms=1000 * percentile(peer_read_latency, 50) if peer_read_latency else None,
        unchanged_per_s=unchanged / window,
        values_per_s=values / window,
        poll_p95_s=percentile(periods, 95),
        poll_max_s=max(periods, default=math.nan),
        reads_per_s=reads_in_window / window,
    )
