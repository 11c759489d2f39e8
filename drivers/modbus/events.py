"""What the bus engine tells its consumers: point updates, device status, write results."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .codec import Value


class Quality(StrEnum):
    """How far a value can be trusted.

    - good: read from the device in the current poll cycle;
    - stale: the last good value, but the device has not been read for longer than the
      device's `stale_after_s` (the bus is late or saturated);
    - comm_fail: the device does not answer (timeout, corrupt replies, link down);
      the value is the last one known (or None);
    - uncertain: the device answered but we cannot vouch for the value (exception reply
      for its block, or a write whose read-back differs from what was asked).
    """

    GOOD = "good"
    STALE = "stale"
    COMM_FAIL = "comm_fail"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class PointUpdate:
    """A point's value (None until first read) with its quality and source timestamp."""

    device: str
    point: str
    value: Value | None
    quality: Quality
    ts: datetime


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device went online or offline (`reason` says why it went offline)."""

    device: str
    online: bool
    ts: datetime
    reason: str = ""


BusEvent = PointUpdate | DeviceStatus


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of `Bus.write`: `value` is what the device reported on read-back.

    `verified` is True when the read-back equals the requested value (after the point's
    own encoding/rounding); for points with `verify = false` it is False and `value`
    is the value as encoded, with quality uncertain.
    """

    device: str
    point: str
    requested: Value
    value: Value | None
    verified: bool
    quality: Quality
    ts: datetime


@dataclass(slots=True)
class BusStats:
    """Counters of one bus (for `edgectl status`)."""

    transactions: int = 0
    errors: int = 0
    timeouts: int = 0
    exceptions: int = 0
    reconnects: int = 0
    connected: bool = False
    events_dropped: int = 0
    latency_total_s: float = 0.0
    latency_max_s: float = 0.0
    per_device_errors: dict[str, int] = field(default_factory=dict)

    @property
    def latency_avg_s(self) -> float:
        ok = self.transactions - self.errors
        return self.latency_total_s / ok if ok > 0 else 0.0


@dataclass(slots=True)
class PollStats:
    """When one device's poll cycles started (monotonic s): the achieved period.

    `last_start` and `cycles` let a caller measure the period over any window it
    chooses; `recent` keeps the last intervals for `achieved_s` and `worst_s`.
    """

    configured_s: float
    cycles: int = 0
    last_start: float | None = None
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=50))

    def started(self, now: float) -> None:
        if self.last_start is not None:
            self.recent.append(now - self.last_start)
        self.last_start = now
        self.cycles += 1

    @property
    def achieved_s(self) -> float | None:
        """Mean interval between the last (up to 50) cycle starts."""
        return sum(self.recent) / len(self.recent) if self.recent else None

    @property
    def worst_s(self) -> float | None:
        return max(self.recent) if self.recent else None
