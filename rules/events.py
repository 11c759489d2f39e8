"""Event rules: a condition held for a time activates actions until an end condition holds.

The hold bookkeeping ("true since when") lives in `Memory.events`, which the
engine returns and the caller feeds back, so evaluate stays a pure function of
(world, t). Contract: evaluate again when a watched point changes and at
`next_change`; the instant a condition is first seen true is the evaluation
instant. Losing the memory (restart without it) restarts the hold timers.

One evaluation makes at most one transition per rule (idle -> active or
active -> idle), so evaluating twice at the same instant with the returned
memory is idempotent for any sane rule.
"""

from __future__ import annotations

from datetime import datetime

from rules.levels import Level
from rules.model import Comparison, Condition, EventRule, EventTrack, PointValue
from rules.segments import Segment


def compare(c: Comparison, inputs: dict[str, PointValue]) -> bool:
    """One comparison; an absent or not-good point is false (unknown never acts)."""
    pv = inputs.get(c.point)
    if pv is None or pv.quality != "good":
        return False
    v = float(pv.value)
    match c.op:
        case ">":
            return v > c.value
        case ">=":
            return v >= c.value
        case "<":
            return v < c.value
        case "<=":
            return v <= c.value
        case "==":
            return v == c.value
        case "!=":
            return v != c.value
    return False  # unreachable with a valid Op


def holds(cond: Condition, inputs: dict[str, PointValue]) -> bool:
    """All comparisons hold."""
    return all(compare(c, inputs) for c in cond.all)


def step(
    rule: EventRule, track: EventTrack, inputs: dict[str, PointValue], t: datetime
) -> EventTrack:
    """The rule's state at t given its state at the previous evaluation."""
    trig = holds(rule.trigger, inputs)
    if track.active_since is not None:
        ended = holds(rule.end, inputs) if rule.end is not None else not trig
        if not ended:
            return EventTrack(active_since=track.active_since)
        end_since = track.end_since or t
        if t >= end_since + rule.end_hold:
            return EventTrack()
        return EventTrack(active_since=track.active_since, end_since=end_since)
    if not trig:
        return EventTrack()
    since = track.trigger_since or t
    if t >= since + rule.hold:
        return EventTrack(active_since=since + rule.hold)
    return EventTrack(trigger_since=since)


def event_segments(rule: EventRule, track: EventTrack) -> list[tuple[Level, str, Segment]]:
    """Segments of an already stepped rule (a pending hold is a future segment)."""
    if track.active_since is not None:
        start = track.active_since
        end = None if track.end_since is None else track.end_since + rule.end_hold
        detail = "active"
    elif track.trigger_since is not None:
        start, end, detail = track.trigger_since + rule.hold, None, "pending hold"
    else:
        return []
    return [
        (a.level, a.output, Segment(start, end, a.value, "event", rule.id, detail))
        for a in rule.actions
    ]


def points_of(rule: EventRule) -> set[str]:
    """Input points a rule reads."""
    pts = {c.point for c in rule.trigger.all}
    if rule.end is not None:
        pts |= {c.point for c in rule.end.all}
    return pts
