"""Priority levels of an output, ordered like a BACnet priority array.

Technicians know BACnet: priority 1 is life safety, 8 is the manual operator,
16 is the relinquish default. We keep the same numbers so `edgectl explain`
can say "priority 8 (manual)" and be understood on site.
"""

from __future__ import annotations

import enum


class Level(enum.StrEnum):
    """Where a wanted value comes from; the highest non-empty level wins."""

    LIFE_SAFETY = "life_safety"
    MANUAL = "manual"
    BOOKING = "booking"
    SCHEDULE = "schedule"
    EVENT = "event"
    DEFAULT = "default"

    @property
    def priority(self) -> int:
        """BACnet-like priority number: lower wins."""
        return _PRIORITY[self]


_PRIORITY: dict[Level, int] = {
    Level.LIFE_SAFETY: 1,
    Level.MANUAL: 8,
    Level.BOOKING: 10,
    Level.SCHEDULE: 12,
    Level.EVENT: 14,
    Level.DEFAULT: 16,
}

# Highest priority first: the order in which a winner is looked for.
LEVELS_BY_PRIORITY: tuple[Level, ...] = tuple(sorted(Level, key=lambda lv: lv.priority))
