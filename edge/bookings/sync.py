"""Booking sync: reconcile snapshots by version, apply deltas in version order, ask on gaps.

Before anything else a message must pass `BookingAuth` (edge.bookings.auth): with booking
keys configured, an unsigned or badly signed snapshot or delta is refused whole (event
`bookings_rejected` with the signature code, the `bookings_refused` warning alarm) and
changes nothing.

- Snapshot (`bookings`, retained): older or equal versions are ignored; a newer one replaces
  the store (only the differences are written), then buffered deltas that follow it apply.
  A signed snapshot with `reset: true` replaces the store whatever the versions.
- Delta (`bookings/delta`): `version == store.version + 1` applies; an older one is a
  duplicate and ignored; a newer one is buffered and a snapshot is requested with an event
  `bookings_resync_needed` (at most once per minute while the gap lasts).
- A version more than `max_version_jump` ahead of the stored one is refused (so one message
  cannot lift the version beyond every later update), as is one that far behind it (the
  stored version is then bogus: only a signed reset repairs it); both raise the alarm.
- A snapshot or delta with any invalid booking is refused whole (event `bookings_rejected`
  with the reasons): never half-applied. A refused delta also asks for a snapshot.

What the cloud must hear (rejections, resync requests) is published on `reports`; the
daemon forwards it upstream through the outbox. Nothing here knows MQTT.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

import msgspec
import structlog

from edge.bookings.auth import OPEN, BookingAuth, Kind, Trust
from edge.bookings.model import (
    MAX_DURATION,
    BookingDelta,
    BookingSnapshot,
    problems_of,
)
from edge.bookings.store import BookingStore
from edge.clock import Clock
from edge.jsonlimits import depth_problem
from edge.topic import Topic

log = structlog.get_logger("edge.bookings.sync")

RESYNC_INTERVAL_S = 60.0
MAX_BUFFERED_DELTAS = 1000
ALARM_CLASS = "bookings_refused"
"""Warning alarm (source `bookings`) raised by a refused signature or version; it returns
when a later message applies (latching: stays until acknowledged)."""
T = TypeVar("T")
M = TypeVar("M", BookingSnapshot, BookingDelta)
Verdict = tuple[Trust, M] | None
Alarm = Callable[[bool, str], None]
"""(active, message) of the `bookings_refused` alarm."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """Something the booking backend must hear: a refused message, or a missing delta."""

    kind: Literal["bookings_rejected", "bookings_resync_needed"]
    message: str
    data: dict[str, Any] = field(default_factory=dict)


def _no_alarm(active: bool, message: str) -> None:
    return None


class BookingSync:
    """Feeds the store from the two inbound topics; reports go out on `reports`."""

    def __init__(
        self,
        store: BookingStore,
        clock: Clock,
        zone_known: Callable[[str], bool],
        max_payload: int = 4 * 1024 * 1024,
        max_duration: Callable[[], timedelta] = lambda: MAX_DURATION,
        auth: Callable[[], BookingAuth] = lambda: OPEN,
        alarm: Alarm = _no_alarm,
    ) -> None:
        self._store = store
        self._clock = clock
        self._zone_known = zone_known
        self._max_payload = max_payload
        self._max_duration = max_duration
        self._auth = auth
        self._alarm = alarm
        self.reports: Topic[SyncReport] = Topic("booking_sync")
        self._pending: dict[int, BookingDelta] = {}
        self._lock = asyncio.Lock()
        self._last_resync: float | None = None
        self._last_reset: tuple[int, str] | None = None
        """The reset last applied: the same one seen again (a retained copy on reconnect)
        counts as a plain snapshot, so it cannot roll back the deltas applied since."""
        self._snapshot_decoder = msgspec.json.Decoder(BookingSnapshot)
        self._delta_decoder = msgspec.json.Decoder(BookingDelta)

    # ------------------------------------------------------------------ inbound handlers

    async def on_snapshot(self, payload: bytes) -> None:
        snap = self._decode(payload, self._snapshot_decoder, "snapshot")
        if snap is None:
            return
        auth = self._auth()
        verdict = self._authentic(auth, "snapshot", snap, payload)
        if verdict is None:
            return
        trust, snap = verdict
        reset = snap.reset and trust is Trust.SIGNED and self._reset_key(snap) != self._last_reset
        async with self._lock:
            have = self._store.version
            if not reset:
                if snap.version <= have:
                    if have - snap.version > auth.max_version_jump:
                        self._refuse_version("snapshot", snap.version, have, auth)
                        return
                    log.info("bookings_snapshot_ignored", version=snap.version, have=have)
                    # Authentic and within bounds (a retained copy seen again): the feed
                    # is sound, so an earlier refusal is over.
                    self._alarm(False, f"booking version {snap.version} already held")
                    return
                if snap.version - have > auth.max_version_jump:
                    self._refuse_version("snapshot", snap.version, have, auth)
                    return
            problems = problems_of(
                snap.bookings, self._zone_known, max_duration=self._max_duration()
            )
            if problems:
                self._reject("snapshot", snap.version, problems)
                return
            if reset:
                log.warning("bookings_reset", version=snap.version, had=have)
                self._pending.clear()
                self._last_reset = self._reset_key(snap)
            await self._store.replace_all(snap.version, snap.bookings)
            self._applied()
            await self._apply_buffered()

    async def on_delta(self, payload: bytes) -> None:
        delta = self._decode(payload, self._delta_decoder, "delta")
        if delta is None:
            return
        auth = self._auth()
        verdict = self._authentic(auth, "delta", delta, payload)
        if verdict is None:
            return
        _, delta = verdict
        async with self._lock:
            have = self._store.version
            if abs(delta.version - have) > auth.max_version_jump:
                self._refuse_version("delta", delta.version, have, auth)
                return
            if delta.version <= have:
                log.info("bookings_delta_duplicate", version=delta.version, have=have)
                return
            if delta.version > have + 1:
                if len(self._pending) < MAX_BUFFERED_DELTAS:
                    self._pending[delta.version] = delta
                self._request_resync(have, delta.version)
                return
            self._pending[delta.version] = delta
            await self._apply_buffered()

    # ------------------------------------------------------------------ internals

    async def _apply_buffered(self) -> None:
        for version in sorted(v for v in self._pending if v <= self._store.version):
            del self._pending[version]
        while (delta := self._pending.pop(self._store.version + 1, None)) is not None:
            if not await self._apply_delta(delta):
                self._request_resync(self._store.version, delta.version)
                return
        if self._pending:
            self._request_resync(self._store.version, min(self._pending))
        else:
            self._last_resync = None

    async def _apply_delta(self, delta: BookingDelta) -> bool:
        current = {b.booking_id: b for b in self._store.snapshot()}
        for bid in delta.remove:
            current.pop(bid, None)
        for b in delta.upsert:
            current[b.booking_id] = b
        touched = {b.booking_id for b in delta.upsert}
        upsert_ids = [b.booking_id for b in delta.upsert]
        problems = problems_of(
            current.values(), self._zone_known, focus=touched, max_duration=self._max_duration()
        )
        if len(set(upsert_ids)) != len(upsert_ids):
            problems.append((upsert_ids[0], "delta upserts the same booking_id twice"))
        if problems:
            self._reject("delta", delta.version, problems)
            return False
        await self._store.apply(delta.version, delta.upsert, delta.remove)
        self._applied()
        return True

    def _decode(self, payload: bytes, decoder: msgspec.json.Decoder[T], what: str) -> T | None:
        if len(payload) > self._max_payload:
            self._rejected_payload(what, f"{len(payload)} bytes, limit {self._max_payload}")
            return None
        too_deep = depth_problem(payload)
        if too_deep is not None:
            self._rejected_payload(what, too_deep)
            return None
        try:
            return decoder.decode(payload)
        # ValidationError is a DecodeError; bad UTF-8 inside a string is a UnicodeDecodeError.
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            self._rejected_payload(what, str(exc))
            return None

    def _authentic(self, auth: BookingAuth, what: Kind, msg: M, payload: bytes) -> Verdict[M]:
        """`msg` and how far it is trusted, or None (refused, reported) when the signature
        policy refuses it. A signed message is re-derived from exactly the object whose
        signature verified, so what applies is what was signed."""
        if not auth.required:
            return Trust.UNSIGNED, msg  # no keys: a `sig` is not checked, never makes a reset
        obj: Any = {}
        if msg.sig is not None:
            obj = msgspec.json.decode(payload)  # decoded once already: a valid JSON object
        refused = auth.refusal(what, obj, self._clock.now())
        if refused is not None:
            code, message = refused
            self._refuse(what, msg.version, code, message)
            return None
        try:
            return Trust.SIGNED, msgspec.convert(obj, type(msg))
        except msgspec.ValidationError as exc:  # decoded from the same bytes: not expected
            self._rejected_payload(what, str(exc))
            return None

    @staticmethod
    def _reset_key(snap: BookingSnapshot) -> tuple[int, str]:
        return snap.version, snap.sig.value if snap.sig is not None else ""

    def _refuse_version(self, what: Kind, version: int, have: int, auth: BookingAuth) -> None:
        direction = "ahead of" if version > have else "behind"
        fix = (
            "publish the next version, or a signed snapshot with reset: true"
            if version > have
            else "the stored version is bogus: publish a signed snapshot with reset: true"
        )
        self._refuse(
            what,
            version,
            "version_jump",
            f"version {version} is more than {auth.max_version_jump} {direction} the stored "
            f"version {have}; {fix}",
            have=have,
        )

    def _refuse(self, what: Kind, version: int, code: str, reason: str, **extra: Any) -> None:
        """A security refusal: nothing changes; the cloud hears why; the alarm is raised."""
        log.warning("bookings_refused", what=what, version=version, code=code, reason=reason)
        self._alarm(True, f"booking {what} version {version} refused ({code}): {reason}")
        self.reports.publish(
            SyncReport(
                "bookings_rejected",
                f"booking {what} version {version} refused ({code}): nothing applied",
                {"what": what, "version": version, "code": code, "reason": reason, **extra},
            )
        )

    def _applied(self) -> None:
        self._alarm(False, f"booking version {self._store.version} applied")

    def _rejected_payload(self, what: str, reason: str) -> None:
        log.warning("bookings_payload_rejected", what=what, reason=reason)
        self.reports.publish(
            SyncReport(
                "bookings_rejected",
                f"booking {what} refused: {reason}",
                {"what": what, "reason": reason},
            )
        )

    def _reject(self, what: str, version: int, problems: list[tuple[str, str]]) -> None:
        log.warning("bookings_rejected", what=what, version=version, problems=problems[:20])
        self.reports.publish(
            SyncReport(
                "bookings_rejected",
                f"booking {what} version {version} refused: nothing applied",
                {
                    "what": what,
                    "version": version,
                    "problems": [{"booking_id": b, "reason": r} for b, r in problems[:100]],
                },
            )
        )

    def _request_resync(self, have: int, got: int) -> None:
        mono = self._clock.monotonic()
        if self._last_resync is not None and mono - self._last_resync < RESYNC_INTERVAL_S:
            return
        self._last_resync = mono
        log.warning("bookings_resync_needed", have=have, got=got)
        self.reports.publish(
            SyncReport(
                "bookings_resync_needed",
                "a booking delta is missing: please publish a snapshot",
                {"have_version": have, "received_version": got},
            )
        )
