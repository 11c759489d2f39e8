"""Alarm transitions as audit-journal entries (kind="alarm")."""

from __future__ import annotations

from edge.alarms.model import AlarmEvent
from edge.journal import Entry


def journal_entry(ev: AlarmEvent) -> Entry:
    body: dict[str, object] = {
        "state": ev.state.value,
        "severity": ev.severity.value,
        "class": ev.cls,
        "message": ev.message,
        "occurrence": ev.occurrence,
    }
    if ev.shelved_until is not None:
        body["shelved_until"] = ev.shelved_until.isoformat()
    # An acknowledgement names its actor as "kind:id" (technician:alice, cloud:<cmd_id>).
    kind, _, who = (ev.ack_by or "").rpartition(":")
    return Entry(
        ts=ev.ts, kind="alarm", subject=ev.alarm_id, device=ev.device, zone=ev.zone,
        actor=(who or None), actor_kind=(kind or None), body=body,
    )  # fmt: skip
