"""What goes up: domain events turned into contract bodies, written to the outbox.

The feed lives as long as the daemon and writes to the outbox (a store) whether or not
an MQTT session is up: an alarm raised, an access decision, an operation or an energy
record while the link is down reaches the cloud once it is back. Point changes go to a
`StateFeed` (`edge.feed_state`), which sends them within milliseconds of the read; the `feed`
component runs its timers.

Every mapping from a domain enum to a contract one is an exhaustive `match`, so a new
alarm state or event kind cannot be dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Literal

import structlog

from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from edge.access.records import AccessEvent
from edge.alarms import AlarmEvent, AlarmState
from edge.automation.emergency import EmergencyChange
from edge.bookings.sync import SyncReport
from edge.clock import Clock
from edge.config.model import Uplink as UplinkSettings
from edge.energy import BookingEnergy, EnergyInterval
from edge.feed_state import StateFeed
from edge.journal import Entry
from edge.stores import EnergyRecord, Stores
from edge.topic import Topic
from edge.uplink.contract import (
    AlarmBody,
    EnergyBody,
    EstimateReason,
    EventBody,
    PointValue,
    StateBody,
)
from edge.venue import VenueRef

log = structlog.get_logger("edge.feed")
Action = Literal["raise", "ack", "return", "shelve", "clear"]


def alarm_action(state: AlarmState) -> Action:
    match state:
        case AlarmState.ACTIVE:
            return "raise"
        case AlarmState.ACKED:
            return "ack"
        case AlarmState.RETURNED:
            return "return"
        case AlarmState.SHELVED:
            return "shelve"
        case AlarmState.CLEARED:
            return "clear"


def quality(q: Quality) -> Literal["good", "bad", "uncertain", "stale"]:
    match q:
        case Quality.GOOD:
            return "good"
        case Quality.STALE:
            return "stale"
        case Quality.UNCERTAIN:
            return "uncertain"
        case Quality.COMM_FAIL:
            return "bad"


def estimate_reasons(reasons: list[str]) -> list[EstimateReason]:
    """The contract's reasons; one the contract does not know (a new estimator) is
    logged and left out rather than sent outside the schema."""
    known: list[EstimateReason] = []
    for r in reasons:
        match r:
            case "gap" | "reset" | "rebased" | "before_data":
                known.append(r)
            case _:
                log.warning("energy_reason_not_in_contract", reason=r)
    return known


def scalar(value: object) -> bool | int | float | str | None:
    return value if isinstance(value, bool | int | float | str) or value is None else str(value)


class Feed:
    """Subscribes for the daemon's life (`with feed:`) and queues bodies in the outbox."""

    def __init__(self, stores: Stores, venue: VenueRef, reports: Topic[SyncReport]) -> None:
        self._stores = stores
        self._venue = venue
        self._reports = reports
        self.state = StateFeed(stores.outbox)
        self._subs = ExitStack()

    def __enter__(self) -> Feed:
        s = self._stores
        self._subs.enter_context(s.points.subscribe(self._on_point))
        self._subs.enter_context(s.alarms.subscribe(self._on_alarm))
        self._subs.enter_context(s.access.subscribe(self._on_access))
        self._subs.enter_context(s.energy.subscribe(self._on_energy))
        self._subs.enter_context(s.journal.entries.subscribe(self._on_journal))
        self._subs.enter_context(s.emergency.changes.subscribe(self._on_emergency))
        self._subs.enter_context(self._reports.subscribe(self._on_report))
        return self

    def __exit__(self, *exc: object) -> None:
        self._subs.close()

    def _put(self, body: EventBody | AlarmBody | EnergyBody | StateBody) -> None:
        try:
            self._stores.outbox.put_nowait(body)
        except Exception:  # the outbox logs and counts; a producer never fails for it
            log.exception("feed_enqueue_failed", body=type(body).__name__)

    # ---- point changes, event-driven ----------------------------------------------
    def _on_point(self, event: BusEvent) -> None:
        if isinstance(event, PointUpdate):
            ref = f"{event.device}.{event.point}"
            info = self._venue.get().points.get(ref)
            self.state.offer(
                PointValue(
                    point=info.ref if info else ref,  # the inventory's string, kept once
                    value=scalar(event.value),
                    quality=quality(event.quality),
                    unit=(info.unit or None) if info else None,
                    ts=event.ts,
                )
            )
        elif isinstance(event, DeviceStatus):
            self._put(
                EventBody(
                    kind="device_online" if event.online else "device_offline",
                    device=event.device,
                    zone=self._venue.get().zone_of.get(event.device),
                    message=event.reason,
                )
            )

    # ---- events -----------------------------------------------------------------------
    def _on_alarm(self, ev: AlarmEvent) -> None:
        self._put(
            AlarmBody(
                alarm_id=ev.alarm_id,
                action=alarm_action(ev.state),
                severity=ev.severity.value,
                alarm_class=ev.cls,
                text=ev.message,
                device=ev.device,
                zone=ev.zone,
                by=ev.ack_by,
                occurrence=ev.occurrence,
            )
        )

    def _on_access(self, event: AccessEvent) -> None:
        self._put(
            EventBody(
                kind="access_decision",
                zone=event.zone,
                booking_id=event.booking_id,
                message=event.reason,
                data={
                    "gate": event.gate,
                    "granted": event.granted,
                    "reason": event.reason,
                    "opened": event.opened,
                    "pass_id": event.pass_id,
                    "reader": event.reader,
                    "kind": event.kind,
                    "subject": event.subject,
                    "latency_ms": round(event.latency_ms, 2),
                    "ts": event.ts.isoformat(),
                },
            )
        )

    def _on_energy(self, rec: EnergyRecord) -> None:
        if isinstance(rec, BookingEnergy):
            body = EnergyBody(
                kind="booking_total",
                meters=dict(sorted(rec.meters.items())),
                start=rec.start,
                end=rec.end,
                kwh=rec.kwh,
                estimated=rec.estimated,
                reasons=estimate_reasons(rec.reasons),
                zone=rec.zone,
                booking_id=rec.booking_id,
            )
        else:
            assert isinstance(rec, EnergyInterval)
            body = EnergyBody(
                kind="meter_interval" if rec.kind == "meter" else "zone_interval",
                meter=rec.subject if rec.kind == "meter" else None,
                start=rec.start,
                end=rec.end,
                kwh=rec.kwh,
                estimated=rec.estimated,
                reasons=estimate_reasons(rec.reasons),
                zone=rec.zone,
            )
        self._put(body)

    def _on_journal(self, entry: Entry) -> None:
        if entry.kind != "operation":
            return
        body = dict(entry.body or {})
        self._put(
            EventBody(
                kind="operation",
                zone=entry.zone,
                device=entry.device,
                message=f"{body.get('op', '')} {entry.subject}",
                data={
                    "subject": entry.subject,
                    "actor": entry.actor,
                    "actor_kind": entry.actor_kind,
                    "ts": entry.ts.isoformat(),
                    **{k: v if isinstance(v, dict | list) else scalar(v) for k, v in body.items()},
                },
            )
        )

    def _on_emergency(self, change: EmergencyChange) -> None:
        message = "fire alarm: life-safety outputs applied" if change.active else "emergency reset"
        data = {"active": change.active, "source": change.source, "ts": change.at.isoformat()}
        self._put(EventBody(kind="emergency", message=message, data=data))

    def _on_report(self, report: SyncReport) -> None:
        self._put(EventBody(kind=report.kind, message=report.message, data=report.data))


class FeedComponent:
    """The `feed` component: runs the state feed's window and refresh timers."""

    name = "feed"

    def __init__(self, feed: Feed, clock: Clock, uplink: UplinkSettings) -> None:
        self._feed = feed
        self._clock = clock
        self._window_s = uplink.state_window_ms / 1000
        self._refresh_s = uplink.state_refresh_s

    async def run(self, ready: Callable[[], None]) -> None:
        await self._feed.state.serve(
            self._clock, window_s=self._window_s, refresh_s=self._refresh_s, ready=ready
        )
