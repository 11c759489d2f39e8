"""Turn raw cumulative meter readings into trustworthy energy steps (pure).

A cumulative kWh counter can go backwards for two reasons that must not be confused:
a rollover (an unsigned register wrapping at its maximum, e.g. uint32 x 0.1 kWh wraps
at 429,496,729.6 kWh) and a reset (meter replaced or cleared). A step back is a
rollover when counting on through the wrap gives a plausible energy for the elapsed
time (at most `max_kw`); otherwise it is a reset, and we count from the new value
(the meter restarted from zero) and mark the step estimated. A forward jump larger
than is physically possible is rejected with a reason, unless the next readings
confirm the new level (meter swapped for one with another reading): then we re-base.
NaN, infinities, negative and out-of-range values are rejected. Never a negative step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class StepKind(StrEnum):
    FIRST = "first"
    NORMAL = "normal"
    ROLLOVER = "rollover"
    RESET = "reset"
    REBASED = "rebased"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Step:
    """What one reading adds: `delta_kwh` >= 0 since the previous accepted reading."""

    kind: StepKind
    delta_kwh: float = 0.0
    estimated: bool = False
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.kind is not StepKind.REJECTED


@dataclass
class CounterDecoder:
    wrap_kwh: float | None
    """Value at which the register wraps to 0 (None: it does not, e.g. float32)."""
    max_kw: float = 2000.0
    """More power than this through one meter is physically absurd."""
    quantum_kwh: float = 0.1
    """Register resolution: steps back within 1.5 quanta are jitter, not resets."""
    confirm: int = 3
    """Consistent readings needed to accept an absurd jump as a new level."""
    last_t: float | None = None
    last_kwh: float | None = None
    last_power_w: float | None = None
    _pending: list[tuple[float, float]] = field(default_factory=list)

    def plausible(self, dt: float) -> float:
        return self.max_kw * max(dt, 0.0) / 3600.0 + 2 * self.quantum_kwh

    def _estimate(self, dt: float) -> float:
        """Energy over `dt` from the last power reading, when there is a sane one."""
        p = self.last_power_w
        if p is None or not math.isfinite(p) or p < 0 or p > self.max_kw * 1000:
            return 0.0
        return p * max(dt, 0.0) / 3_600_000.0

    def note_power(self, watts: float | None) -> None:
        self.last_power_w = watts

    def feed(self, t: float, value: float | None) -> Step:
        """One reading of the counter at `t` (epoch seconds)."""
        bad = _invalid(value, self.wrap_kwh)
        if bad is not None:
            return Step(StepKind.REJECTED, reason=bad)
        assert value is not None
        if self.last_t is None or self.last_kwh is None:
            self.last_t, self.last_kwh = t, value
            return Step(StepKind.FIRST)
        dt = t - self.last_t
        if dt < 0:
            return Step(StepKind.REJECTED, reason=f"reading time went back {-dt:.0f} s")
        d = value - self.last_kwh
        limit = self.plausible(dt)
        if 0 <= d <= limit:
            return self._accept(t, value, Step(StepKind.NORMAL, d))
        if d < 0:
            if -d <= 1.5 * self.quantum_kwh:
                self._pending.clear()
                return Step(StepKind.NORMAL, 0.0, reason="jitter")  # keep the higher baseline
            if self.wrap_kwh is not None and 0 <= d + self.wrap_kwh <= limit:
                return self._accept(t, value, Step(StepKind.ROLLOVER, d + self.wrap_kwh))
            counted = value if value <= limit else self._estimate(dt)
            return self._accept(
                t, value,
                Step(StepKind.RESET, counted, True,
                     f"counter went back from {self.last_kwh:g} to {value:g} kWh "
                     "(meter reset or replaced): counting from the new value"),
            )  # fmt: skip
        return self._absurd(t, value, d, dt)

    def _absurd(self, t: float, value: float, d: float, dt: float) -> Step:
        if self._pending:
            pt, pv = self._pending[-1]
            if 0 <= value - pv <= self.plausible(t - pt):
                self._pending.append((t, value))
            else:
                self._pending = [(t, value)]
        else:
            self._pending = [(t, value)]
        if len(self._pending) < self.confirm:
            return Step(
                StepKind.REJECTED,
                reason=f"jump of {d:g} kWh in {dt:.0f} s is more than {self.max_kw:g} kW "
                "could draw",
            )
        (t0, v0), (t1, v1) = self._pending[0], self._pending[-1]
        assert self.last_t is not None
        across = self._estimate(t0 - self.last_t) + (v1 - v0)
        return self._accept(
            t1, v1,
            Step(StepKind.REBASED, across, True,
                 f"counter settled at a new level {v1:g} kWh: re-based"),
        )  # fmt: skip

    def _accept(self, t: float, value: float, step: Step) -> Step:
        self.last_t, self.last_kwh = t, value
        self._pending.clear()
        return step


def _invalid(value: float | None, wrap: float | None) -> str | None:
    if value is None:
        return "no value"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"not a number: {value!r}"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "infinite"
    if value < 0:
        return f"negative counter {value:g}"
    if wrap is not None and value >= wrap:
        return f"{value:g} beyond the register's range (wraps at {wrap:g})"
    return None
