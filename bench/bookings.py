"""Benchmark of the desired-state engine with 2,000 bookings and 300 outputs.

Prints:
- the cost of one `evaluate` (median / p99 ms) at random instants of the day,
  beside a bare baseline (the same site with no bookings) and the ratio;
- the lateness of every output change over a simulated day driven by
  `next_change`: a simulated scheduler wakes exactly at next_change, the
  evaluation's real CPU time is charged to the simulated clock, and a change is
  "written" when its evaluation completes; lateness = written - scheduled
  instant (p50 / p99 / max). Also counts wake-ups versus actual changes.

Run: .venv/bin/python bench/bookings.py [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rules import evaluate
from rules.model import (
    Booking,
    HvacSpec,
    LightSpec,
    PointValue,
    Site,
    Value,
    World,
    ZoneSpec,
)

DAY = datetime(2026, 11, 21, tzinfo=UTC)
HALLS, COURTS_PER_HALL = 25, 5  # 25 x (run + setpoint) + 125 x 2 lights = 300 outputs


def build_site() -> Site:
    zones: list[ZoneSpec] = []
    for h in range(HALLS):
        zones.append(
            ZoneSpec(
                id=f"hall{h}",
                kind="hall",
                temp_point=f"t{h}.temp",
                hvac=(HvacSpec(enable=f"ahu{h}.run", setpoint=f"ahu{h}.sp"),),
            )
        )
        for c in range(COURTS_PER_HALL):
            zid = f"h{h}c{c}"
            zones.append(
                ZoneSpec(
                    id=zid,
                    kind="court",
                    parent=f"hall{h}",
                    lights=(
                        LightSpec(output=f"dali{h}.{zid}a", on=100.0, off=0.0),
                        LightSpec(output=f"dali{h}.{zid}b"),
                    ),
                )
            )
    return Site(timezone="Asia/Shanghai", zones=tuple(zones))


def build_bookings(rng: random.Random, n: int = 2000, days: int = 1) -> tuple[Booking, ...]:
    courts = [f"h{h}c{c}" for h in range(HALLS) for c in range(COURTS_PER_HALL)]
    out = []
    for i in range(n):
        day = DAY + timedelta(days=rng.randrange(days))
        start = day + timedelta(minutes=rng.randrange(6 * 60, 22 * 60, 15))
        dur = timedelta(minutes=rng.choice((30, 60, 60, 90, 120)))
        out.append(
            Booking(booking_id=f"b{i}", zone=rng.choice(courts), start=start, end=start + dur)
        )
    return tuple(out)


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def eval_cost(world: World, instants: list[datetime]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each evaluation (CPU is steadier on a shared machine)."""
    wall, cpu = [], []
    for t in instants:
        w0, c0 = time.perf_counter(), time.process_time()
        evaluate(world, t)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def report(name: str, wall: list[float], cpu: list[float]) -> float:
    med = statistics.median(cpu)
    print(
        f"{name:<34}: CPU median {med:7.2f} ms  p99 {pct(cpu, 99):7.2f} ms"
        f"  | wall median {statistics.median(wall):7.2f} ms  p99 {pct(wall, 99):7.2f} ms"
    )
    return med


def simulated_day(world: World, charge: str) -> tuple[list[float], int, int]:
    """Lateness (s) of every change, wake-ups, output writes; `charge` = "wall" or "cpu"."""
    clock = time.perf_counter if charge == "wall" else time.process_time
    sim = DAY
    t: datetime | None = DAY
    prev: dict[str, Value | None] | None = None
    lateness: list[float] = []
    wakeups = writes = 0
    while t is not None and t < DAY + timedelta(days=1):
        sim = max(sim, t)  # the scheduler wakes at next_change (or late, if still busy)
        c0 = clock()
        ev = evaluate(world, sim)
        sim += timedelta(seconds=clock() - c0)  # the evaluation's time is charged
        wakeups += 1
        world = msgspec.structs.replace(world, memory=ev.memory)
        now = {o: ev.value(o) for o in ev.outputs}
        if prev is not None:
            changed = [o for o in now if now[o] != prev.get(o)]
            writes += len(changed)
            lateness.extend((sim - t).total_seconds() for _ in changed)
        prev = now
        t = ev.next_change
    return lateness, wakeups, writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    site = build_site()
    inputs = {f"t{h}.temp": PointValue(value=18.0 + h % 5) for h in range(HALLS)}
    world = World(site=site, bookings=build_bookings(rng), inputs=inputs)
    bare = World(site=site, inputs=inputs)
    month = World(site=site, bookings=build_bookings(rng, days=28), inputs=inputs)
    n_outputs = len(evaluate(world, DAY).outputs)
    instants = [DAY + timedelta(seconds=rng.randrange(86400)) for _ in range(args.samples)]
    eval_cost(world, instants[:5])  # warm up (zoneinfo, imports)
    print(f"bookings={len(world.bookings)} outputs={n_outputs} samples={args.samples}")
    base = report("baseline: same site, no bookings", *eval_cost(bare, instants))
    full = report("2000 bookings in one day (dense)", *eval_cost(world, instants))
    spread = report("2000 bookings over 28 days", *eval_cost(month, instants))
    print(
        f"ratio to baseline (CPU median)    : dense {full / base:.1f}x,"
        f" 28 days {spread / base:.1f}x"
    )
    for charge in ("cpu", "wall"):
        lateness, wakeups, writes = simulated_day(world, charge)
        ms = [x * 1000 for x in lateness]
        print(
            f"simulated dense day ({charge} time charged): wake-ups {wakeups},"
            f" output writes {writes}; lateness p50 {pct(ms, 50):.2f} ms"
            f"  p99 {pct(ms, 99):.2f} ms  max {max(ms):.2f} ms"
        )


if __name__ == "__main__":
    main()
