"""The journal's scribe: what happened, from the daemon's topics, as journal entries.

Output writes (with their typed cause), alarm transitions, access decisions, energy
records, emergency changes and devices going offline or online. It subscribes for the
daemon's whole life (`with recorder:`), so no component restart can lose or double it.
Operations are journaled by the operations layer itself.
"""

from __future__ import annotations

from contextlib import ExitStack

from drivers.modbus.events import BusEvent, DeviceStatus
from edge.access.records import AccessEvent
from edge.alarms import AlarmEvent, journal_entry
from edge.automation.emergency import EmergencyChange
from edge.automation.reconciler import WriteRecord
from edge.energy import BookingEnergy, EnergyInterval
from edge.journal import Entry
from edge.stores import EnergyRecord, Stores
from edge.venue import VenueRef


class Recorder:
    def __init__(self, stores: Stores, venue: VenueRef) -> None:
        self._stores = stores
        self._venue = venue
        self._subs = ExitStack()

    def __enter__(self) -> Recorder:
        s = self._stores
        self._subs.enter_context(s.outputs.writes.subscribe(self._on_write))
        self._subs.enter_context(s.alarms.subscribe(self._on_alarm))
        self._subs.enter_context(s.access.subscribe(self._on_access))
        self._subs.enter_context(s.energy.subscribe(self._on_energy))
        self._subs.enter_context(s.emergency.changes.subscribe(self._on_emergency))
        self._subs.enter_context(s.points.subscribe(self._on_point))
        return self

    def __exit__(self, *exc: object) -> None:
        self._subs.close()

    def _record(self, entry: Entry) -> None:
        self._stores.journal.record(entry)

    def _on_write(self, w: WriteRecord) -> None:
        device = w.output.partition(".")[0]
        zone_of = self._venue.get().zone_of
        cause = w.want.cause
        # Who: the issuer when someone asked ("technician:alice"), else the cause itself.
        kind, _, who = cause.actor.partition(":") if cause.actor else (cause.kind, "", cause.id)
        self._record(
            Entry(
                ts=w.at,
                kind="write",
                subject=w.output,
                device=device,
                zone=zone_of.get(w.output) or zone_of.get(device),
                booking=cause.id if cause.kind == "booking" else None,
                actor=who or None,
                actor_kind=kind,
                body={
                    "value": w.want.value,
                    "level": w.want.level,
                    "cause": cause.kind,
                    "cause_id": cause.id,
                    "detail": cause.detail,
                    "read_back": None if w.result is None else w.result.value,
                    "verified": bool(w.result and w.result.verified),
                    "error": w.error,
                    "since": w.want.since.isoformat() if w.want.since else None,
                    "until": w.want.until.isoformat() if w.want.until else None,
                },
            )
        )

    def _on_alarm(self, ev: AlarmEvent) -> None:
        self._record(journal_entry(ev))

    def _on_access(self, event: AccessEvent) -> None:
        self._record(
            Entry(
                ts=event.ts,
                kind="access",
                subject=event.gate,
                zone=event.zone,
                booking=event.booking_id,
                actor=event.kind,
                actor_kind="credential",
                body={
                    "granted": event.granted,
                    "reason": event.reason,
                    "pass_id": event.pass_id,
                    "reader": event.reader,
                    "subject": event.subject,
                    "opened": event.opened,
                    "latency_ms": round(event.latency_ms, 2),
                    "detail": event.detail,
                },
            )
        )

    def _on_energy(self, rec: EnergyRecord) -> None:
        if isinstance(rec, BookingEnergy):
            self._record(
                Entry(
                    ts=rec.end,
                    kind="energy",
                    subject=rec.booking_id,
                    zone=rec.zone,
                    booking=rec.booking_id,
                    actor="booking",
                    body={
                        "kwh": rec.kwh,
                        "meters": rec.meters,
                        "estimated": rec.estimated,
                        "start": rec.start.isoformat(),
                        "end": rec.end.isoformat(),
                        "reasons": rec.reasons,
                    },
                )
            )
            return
        assert isinstance(rec, EnergyInterval)
        self._record(
            Entry(
                ts=rec.end,
                kind="energy",
                subject=rec.subject,
                zone=rec.zone,
                device=rec.subject if rec.kind == "meter" else None,
                actor=rec.kind,
                body={
                    "kwh": rec.kwh,
                    "estimated": rec.estimated,
                    "start": rec.start.isoformat(),
                    "end": rec.end.isoformat(),
                    "reasons": rec.reasons,
                },
            )
        )

    def _on_emergency(self, change: EmergencyChange) -> None:
        # Latched by an alarm point; reset by an actor, given as "kind:id".
        kind, _, who = change.source.partition(":")
        self._record(
            Entry(
                ts=change.at,
                kind="emergency",
                subject="fire-panel",
                actor=change.source if change.active else who,
                actor_kind="panel" if change.active else kind,
                body={"active": change.active},
            )
        )

    def _on_point(self, event: BusEvent) -> None:
        if isinstance(event, DeviceStatus):
            self._record(
                Entry(
                    ts=event.ts,
                    kind="device",
                    subject=event.device,
                    device=event.device,
                    zone=self._venue.get().zone_of.get(event.device),
                    actor_kind="system",
                    body={"online": event.online, "reason": event.reason},
                )
            )
