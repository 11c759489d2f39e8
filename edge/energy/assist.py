"""Where between the counter's ticks the energy went: the meter's power readings (pure).

A 0.1 kWh register says only that the energy lies somewhere in [reading, reading + 0.1).
For a court lit at 1.6 kW that is 4 minutes of uncertainty at each edge of a booking, a
few percent of it. So between counter readings the estimate integrates the meter's own
power readings (held between reports), and each counter reading clamps the estimate
into the band the register allows. The counter stays the authority over any span longer
than a tick; power only places the energy within it. Without power readings the estimate
sits on the counter's lower edge, which is plain counter interpolation.

The true value's fraction of a tick is unknown at the start; it is learned at the first
tick (the reading where the counter steps up). Until then the curve is provisional, and
learning the fraction shifts it as a whole instead of inventing energy in one segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.energy.curve import EnergyCurve

J_PER_KWH = 3_600_000.0


@dataclass
class PowerAssist:
    curve: EnergyCurve
    max_w: float
    est: float | None = None
    """Estimated cumulative kWh at `t`, in the counter's frame (the decoder's `cum`)."""
    t: float | None = None
    watts: float | None = None
    pinned: bool = False
    """The estimate's offset within the counter's band is known (a tick was seen)."""
    since: float | None = None
    """Time of the first knot of this run: the provisional stretch starts here."""

    def resume(self) -> None:
        """Carry on from a persisted curve (after a restart)."""
        if self.curve.times:
            self.est, self.t, self.pinned = self.curve.cum[-1], self.curve.times[-1], True

    def power(self, t: float, watts: float | None) -> None:
        if self.t is not None and t < self.t:
            return  # out of order: the estimate only moves forward
        self._advance(t)
        ok = watts is not None and math.isfinite(watts) and watts <= self.max_w
        self.watts = max(watts, 0.0) if ok and watts is not None else None  # export: no import
        if self.est is not None:
            self.curve.add(t, self.est)

    def counter(
        self, t: float, cum: float, band: tuple[float, float], reason: str = ""
    ) -> float | None:
        """A counter reading (`cum`: the decoded cumulative kWh) whose true value lies in
        [cum + band[0], cum + band[1]). Returns the start of the provisional stretch when
        the curve was shifted (its knots from then on changed), else None."""
        low, high = cum + band[0], cum + band[1]
        shifted = None
        last = self.curve.last_reading_t
        gap = last is not None and t - last > self.curve.max_gap_s
        self._advance(t)
        if self.est is None:
            self.est, self.since = low, t
        elif self.est < low:
            if not self.pinned and self.watts is not None and not reason and not gap:
                # At most one tick of it is the unknown starting fraction; the rest is energy.
                offset = min(low - self.est, band[1] - band[0])
                self.curve.shift(self.since if self.since is not None else t, offset)
                self.est += offset
                shifted = self.since
            self.est = max(self.est, low)
            self.pinned = True
        elif self.est > high:
            self.est = high
        self.curve.add(t, self.est, reason)
        return shifted

    def _advance(self, t: float) -> None:
        if self.t is not None and self.est is not None and self.watts is not None and t > self.t:
            self.est += self.watts * (t - self.t) / J_PER_KWH
        if self.t is None or t > self.t:
            self.t = t
