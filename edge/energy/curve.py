"""A meter's cumulative energy as a function of time (pure).

Knots are (t, cumulative kWh) after the decoder's corrections; energy between any two
instants is the difference of the linearly interpolated curve. A knot carries the
reason, if any, why the segment ending at it is estimated: `gap` (no reading for longer
than `max_gap_s`, i.e. the meter was offline: the counter difference across the gap is
spread evenly over it), `reset`, `rebased`. To stay small, a straight run (a plateau, or
constant power) keeps only its first and last knot.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

STRAIGHT_KWH = 1e-7
"""A knot this close to the line through the previous two adds nothing."""


@dataclass
class EnergyCurve:
    max_gap_s: float = 180.0
    times: list[float] = field(default_factory=list)
    cum: list[float] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    """Reason the segment ending at knot i is estimated ("" = measured)."""
    last_reading_t: float | None = None

    def add(self, t: float, cum_kwh: float, reason: str = "") -> None:
        """A reading at `t` with the corrected cumulative energy (never decreasing)."""
        if self.times and t <= self.times[-1]:
            return  # out of order or duplicate: the curve only moves forward
        if self.last_reading_t is not None and t - self.last_reading_t > self.max_gap_s:
            reason = reason or "gap"
        self.last_reading_t = t
        if self.cum and cum_kwh < self.cum[-1]:
            cum_kwh = self.cum[-1]
        if len(self.times) >= 2 and not reason and not self.why[-1] and self._straight(t, cum_kwh):
            self.times[-1], self.cum[-1] = t, cum_kwh  # stretch the run instead of adding a knot
            return
        self.times.append(t)
        self.cum.append(cum_kwh)
        self.why.append(reason)

    def _straight(self, t: float, cum_kwh: float) -> bool:
        (t1, t2), (c1, c2) = self.times[-2:], self.cum[-2:]
        if c1 == c2 == cum_kwh:
            return True
        expected = c2 + (c2 - c1) * (t - t2) / (t2 - t1)
        return abs(cum_kwh - expected) <= STRAIGHT_KWH

    def shift(self, since: float, kwh: float) -> None:
        """Raise the knots from `since` on by `kwh` (an offset learned late, see assist)."""
        i = bisect.bisect_left(self.times, since)
        for k in range(i, len(self.cum)):
            self.cum[k] += kwh

    @property
    def start(self) -> float | None:
        return self.times[0] if self.times else None

    @property
    def end(self) -> float | None:
        return self.times[-1] if self.times else None

    def at(self, t: float) -> float:
        """Interpolated cumulative energy at `t` (clamped to the known range)."""
        if not self.times:
            raise ValueError("empty curve")
        if t <= self.times[0]:
            return self.cum[0]
        if t >= self.times[-1]:
            return self.cum[-1]
        i = bisect.bisect_right(self.times, t)
        t0, t1 = self.times[i - 1], self.times[i]
        c0, c1 = self.cum[i - 1], self.cum[i]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0)

    def energy(self, a: float, b: float) -> tuple[float, set[str]] | None:
        """kWh in [a, b] and the reasons it is estimated; None until readings reach `b`
        (and None for a span wholly before the first reading: unknown, not zero)."""
        if not self.times or b > self.times[-1] or b < a or b <= self.times[0]:
            return None  # not reached yet, or entirely before the first reading
        reasons: set[str] = set()
        if a < self.times[0]:
            reasons.add("before_data")
        lo = bisect.bisect_right(self.times, a)
        hi = bisect.bisect_left(self.times, b)
        for i in range(max(lo, 1), min(hi, len(self.times) - 1) + 1):
            if self.why[i]:
                reasons.add(self.why[i])
        return max(0.0, self.at(b) - self.at(a)), reasons

    def prune(self, before: float) -> None:
        """Forget knots older than `before`, keeping one knot at or before it."""
        i = bisect.bisect_right(self.times, before) - 1
        if i > 0:
            del self.times[:i], self.cum[:i], self.why[:i]
