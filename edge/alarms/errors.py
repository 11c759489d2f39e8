"""Errors of the alarm engine: refusals carry the alarm id and the reason."""

from __future__ import annotations


class AlarmRefused(Exception):
    """An ack/shelve/unshelve that cannot be applied (unknown id, wrong state, bad expiry)."""

    def __init__(self, alarm_id: str, reason: str) -> None:
        super().__init__(f"alarm {alarm_id!r}: {reason}")
        self.alarm_id = alarm_id
        self.reason = reason


class UnknownAlarmClass(ValueError):
    """A detector reported a class the engine does not know (a programming error)."""

    def __init__(self, cls: str, known: list[str]) -> None:
        super().__init__(f"unknown alarm class {cls!r}; known: {', '.join(sorted(known))}")
        self.cls = cls
