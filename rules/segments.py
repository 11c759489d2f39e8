"""Piecewise-constant wishes of one level for one output, and their resolution.

Every source (bookings, schedules, event rules, overrides, life safety) turns
into `Segment`s: "this level wants this value on [start, end)". Several
segments of one (output, level) may overlap: the highest `rank` wins, then the
smallest cause id, so the result never depends on input order. Resolving at t
gives the value, the run of that same value around t (since/until) and so the
next instant at which the level's value changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules.evaluation import CauseKind
from rules.model import Value


@dataclass(frozen=True, slots=True)
class Segment:
    """Level wants `value` on [start, end); None bounds are unbounded."""

    start: datetime | None
    end: datetime | None
    value: Value
    kind: CauseKind
    cause_id: str
    detail: str = ""
    rank: tuple[float, float] = (0.0, 0.0)

    def covers(self, t: datetime) -> bool:
        return (self.start is None or self.start <= t) and (self.end is None or t < self.end)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The winning segment at t and the run of its value."""

    segment: Segment
    since: datetime | None
    until: datetime | None


def _order(s: Segment) -> tuple[float, float, str, str, float, str]:
    # A total order: ties never depend on input order (same id, same rank, other value).
    return (-s.rank[0], -s.rank[1], s.cause_id, s.detail, -float(s.value), type(s.value).__name__)


def _best(active: list[Segment]) -> Segment | None:
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return min(active, key=_order)


def _same(a: Value | None, b: Value | None) -> bool:
    # True == 1 in Python; a bool output and an int output never share a point,
    # but keep the types apart so a change of type counts as a change.
    return type(a) is type(b) and a == b


def resolve(segments: list[Segment], t: datetime) -> tuple[Resolved | None, datetime | None]:
    """Winner at t (None if the level is empty) and the next value change after t.

    One index of the bounds, then a sweep forward and one backward from t that
    stop at the first change: cost O(n log n) plus the bounds actually crossed.
    """
    segs = [s for s in segments if s.start is None or s.end is None or s.start < s.end]
    starts: dict[datetime, list[int]] = {}
    ends: dict[datetime, list[int]] = {}
    active: dict[int, Segment] = {}
    for i, s in enumerate(segs):
        if s.start is not None:
            starts.setdefault(s.start, []).append(i)
        if s.end is not None:
            ends.setdefault(s.end, []).append(i)
        if s.covers(t):
            active[i] = s
    keys = [_order(s) for s in segs]

    def best(idx: dict[int, Segment]) -> Segment | None:
        if not idx:
            return None
        return segs[min(idx, key=keys.__getitem__)]

    winner = best(active)
    value = None if winner is None else winner.value
    bounds = sorted(starts.keys() | ends.keys())
    until: datetime | None = None
    fwd = dict(active)
    for b in bounds:
        if b <= t:
            continue
        for i in ends.get(b, ()):
            fwd.pop(i, None)
        for i in starts.get(b, ()):
            fwd[i] = segs[i]
        nxt = best(fwd)
        if not _same(None if nxt is None else nxt.value, value):
            until = b
            break
    if winner is None:
        return None, until
    since: datetime | None = None
    back = dict(active)
    for b in reversed(bounds):
        if b > t:
            continue
        # crossing b backwards: segments starting at b end, segments ending at b begin
        for i in starts.get(b, ()):
            back.pop(i, None)
        for i in ends.get(b, ()):
            back[i] = segs[i]
        prev = best(back)
        if not _same(None if prev is None else prev.value, value):
            since = b
            break
    return Resolved(winner, since, until), until
