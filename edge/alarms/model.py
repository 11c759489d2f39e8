"""Alarm classes, states and the transition event sent upstream and to the journal.

States follow ISA-18.2 in a reduced form:

- `active`: condition present, not acknowledged;
- `acked`: condition present, acknowledged;
- `returned`: condition gone but not yet acknowledged (latching classes only);
- `shelved`: hidden by an operator until an expiry (condition still tracked);
- `cleared`: closed (condition gone, and acknowledged when the class latches).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class AlarmState(StrEnum):
    ACTIVE = "active"
    ACKED = "acked"
    RETURNED = "returned"
    SHELVED = "shelved"
    CLEARED = "cleared"


OPEN_STATES = frozenset(
    {AlarmState.ACTIVE, AlarmState.ACKED, AlarmState.RETURNED, AlarmState.SHELVED}
)


class AlarmClass(msgspec.Struct, frozen=True, kw_only=True):
    """How one kind of alarm behaves."""

    name: str
    severity: Severity
    latching: bool = False
    """Stays open until acknowledged AND back to normal."""
    delay_on_s: float = 0.0
    """The condition must hold this long before the alarm is raised (debounce)."""
    delay_off_s: float = 0.0
    """The condition must be gone this long before the alarm clears."""
    description: str = ""


class AlarmEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One transition of one alarm (published on `alarm`, recorded in the journal)."""

    alarm_id: str
    cls: str
    source: str
    """The device, point, zone or subsystem concerned."""
    severity: Severity
    state: AlarmState
    ts: datetime
    message: str
    ack_by: str | None = None
    occurrence: int = 1
    """How many times this alarm id has been raised (a new occurrence after a close)."""
    shelved_until: datetime | None = None
    device: str | None = None
    zone: str | None = None


class AlarmRecord(msgspec.Struct, kw_only=True):
    """The engine's (persisted) view of one alarm id."""

    alarm_id: str
    cls: str
    source: str
    severity: Severity
    state: AlarmState
    message: str
    raised_at: datetime
    updated_at: datetime
    occurrence: int = 1
    ack_by: str | None = None
    acked_at: datetime | None = None
    shelved_until: datetime | None = None
    shelved_by: str | None = None
    condition: bool = True
    """Last debounced condition (needed to resolve a shelve expiry)."""
    device: str | None = None
    zone: str | None = None


def alarm_id(cls: str, source: str) -> str:
    """Stable id: one alarm per (class, source); a re-raise after close is a new occurrence."""
    return f"{cls}:{source}"
