"""One scan end to end: reader line -> limiter -> decision (SQLite) -> access event.

The caller (the serial line reader task) gets the event back: it pulses the gate when
`granted`, journals and publishes the event. Nothing here touches a relay or MQTT.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from edge.access.credentials import CredentialKind, credential_from_line
from edge.access.decision import Reason, refused
from edge.access.outcome import access_event
from edge.access.ratelimit import ReaderLimiter, Verdict
from edge.access.records import AccessEvent
from edge.access.store import AccessStore
from edge.clock import Clock
from edge.storage import StorageError

log = structlog.get_logger("edge.access")


@dataclass(frozen=True)
class ReaderSpec:
    reader_id: str
    gate_id: str
    kind: CredentialKind


def _never() -> bool:
    return False


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        limiter: ReaderLimiter,
        subject_salt: bytes,
        emergency: Callable[[], bool] = _never,
    ) -> None:
        self._store = store
        self._clock = clock
        self._limiter = limiter
        self._salt = subject_salt
        self._emergency = emergency

    async def on_line(
        self, reader: ReaderSpec, line: bytes, received_at: float | None = None
    ) -> AccessEvent | None:
        """Decide one scanned line; None when it was a dropped repeat or flood.

        `received_at` is the clock's monotonic time at the line's last byte, so the
        latency in the event includes any queueing before this call.
        """
        started = self._clock.monotonic() if received_at is None else received_at
        verdict = self._limiter.check(reader.reader_id, line)
        if verdict in (Verdict.DUPLICATE, Verdict.FLOODING):
            return None
        credential = credential_from_line(reader.kind, line)
        now = self._clock.now()
        if verdict is Verdict.RATE_LIMITED:
            decision = refused(Reason.RATE_LIMITED, reader.gate_id, reader.kind)
        else:
            try:
                decision = await self._store.decide(
                    credential, reader.gate_id, now, emergency=self._emergency()
                )
            except (StorageError, sqlite3.Error) as exc:
                log.error("access_store_failed", reader=reader.reader_id, error=str(exc))
                decision = refused(Reason.STORE_ERROR, reader.gate_id, reader.kind)
        latency_ms = (self._clock.monotonic() - started) * 1000.0
        event = access_event(
            decision,
            credential,
            reader=reader.reader_id,
            ts=now,
            latency_ms=latency_ms,
            salt=self._salt,
        )
        log.info(
            "access_decision",
            reader=event.reader,
            gate=event.gate,
            kind=event.kind,
            granted=event.granted,
            reason=event.reason,
            pass_id=event.pass_id,
            booking_id=event.booking_id,
            subject=event.subject,
            latency_ms=event.latency_ms,
            detail=event.detail,
        )
        return event
