"""Gates: credential readers -> access decisions -> gate pulses, journal and entries.

Each serial credential line (QR scanner, face/card terminal, plate camera) has one
reader; its lines are decided one at a time per reader by the access service, offline
and from SQLite. A grant pulses the gate's relay through the reconciler (the only
writer), is journaled with the pass id and reason, and is reported to the rules as an
entry for no-show release. Raw tokens and personal data never reach the logs.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import structlog

from drivers.serial import ScannedLine, SerialEvent, SerialLineReader
from edge.access import SCHEMA as ACCESS_SCHEMA
from edge.access.booking_index import BookingIndex
from edge.access.from_config import readers, site_access
from edge.access.ratelimit import RateLimitSettings, ReaderLimiter
from edge.access.records import AccessEvent
from edge.access.service import AccessService, ReaderSpec
from edge.access.store import AccessStore
from edge.automation.reconciler import CommandFailed, Reconciler
from edge.bookings.store import BookingStore
from edge.clock import Clock
from edge.config.model import SerialLineBus, VenueConfig
from edge.journal import Entry, Journal
from edge.storage import Database, kv

log = structlog.get_logger("edge.gates")
SALT_KEY = "access.subject_salt"
RELAY_POINT = {"gate_controller": "relay", "gpio_relay": "relay"}


class UnknownGate(Exception):
    """edgectl or a cloud command named a gate the config does not have."""


@dataclass
class GateHooks:
    """What the gates tell the rest of the daemon."""

    emergency: Callable[[], bool] = lambda: False
    on_entry: Callable[[str, AccessEvent], None] = lambda booking_id, event: None
    on_event: list[Callable[[AccessEvent], None]] = field(default_factory=list)


class GateComponent:
    name = "gates"

    def __init__(
        self,
        cfg: VenueConfig,
        clock: Clock,
        db: Database,
        bookings: BookingStore,
        reconciler: Reconciler,
        journal: Journal,
        hooks: GateHooks,
    ) -> None:
        self._cfg = cfg
        self._clock = clock
        self._db = db
        self._bookings = bookings
        self._reconciler = reconciler
        self._journal = journal
        self._hooks = hooks
        devices = {d.id: d for d in cfg.devices}
        self._relay: dict[str, str] = {}
        for g in cfg.access.gates:
            dev = devices.get(g.device)
            point = RELAY_POINT.get(dev.profile) if dev is not None else None
            if point is not None:
                self._relay[g.id] = f"{g.device}.{point}"
        self._zones = {g.id: g.zones[0] if g.zones else None for g in cfg.access.gates}
        self._queue: asyncio.Queue[ScannedLine] = asyncio.Queue(maxsize=1000)
        self.service: AccessService | None = None
        self.store: AccessStore | None = None
        self.readers: dict[str, SerialLineReader] = {}
        self.dropped = 0

    def _on_serial(self, event: SerialEvent) -> None:
        if isinstance(event, ScannedLine):
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:  # a flooding reader must not grow memory
                self.dropped += 1

    async def _salt(self) -> bytes:
        await self._db.migrate(kv.SCHEMA)

        def get_or_make(conn: sqlite3.Connection) -> str:
            value = kv.get(conn, SALT_KEY)
            if value is None:
                value = secrets.token_hex(32)
                kv.put(conn, SALT_KEY, value)
            return value

        return bytes.fromhex(await self._db.transaction(get_or_make))

    async def run(self, ready: Callable[[], None]) -> None:
        await self._db.migrate(ACCESS_SCHEMA)
        index = BookingIndex.attach(self._bookings, self._cfg.site.id)
        self.store = AccessStore(self._db, site_access(self._cfg), lambda conn: index)
        limits = RateLimitSettings(
            rate_per_s=self._cfg.access.reader_rate_per_s, burst=self._cfg.access.reader_burst
        )
        limiter = ReaderLimiter(self._clock.monotonic, limits)
        self.service = AccessService(
            self.store, self._clock, limiter, await self._salt(), emergency=self._hooks.emergency
        )
        specs = {r.reader_id: r for r in readers(self._cfg)}
        lines = [b for b in self._cfg.buses if isinstance(b, SerialLineBus)]
        async with AsyncExitStack() as stack:
            for bus in lines:
                reader = SerialLineReader(
                    bus.port,
                    name=bus.id,
                    baudrate=bus.baudrate,
                    max_line=bus.max_line,
                    clock=self._clock,
                    on_event=self._on_serial,
                )
                self.readers[bus.id] = await stack.enter_async_context(reader)
            ready()
            while True:
                line = await self._queue.get()
                spec = specs.get(line.source)
                if spec is not None:
                    await self._decide(spec, line)

    async def _decide(self, spec: ReaderSpec, line: ScannedLine) -> None:
        assert self.service is not None
        try:
            event = await self.service.on_line(spec, line.raw)
        except Exception:  # one bad scan must never stop the gate
            log.exception("access_failed", reader=spec.reader_id)
            return
        if event is None:
            return
        await self.handle(event)

    async def handle(self, event: AccessEvent) -> None:
        opened: bool | None = None
        if event.granted:
            opened = await self._pulse(event.gate, f"access:{event.pass_id or event.subject}")
            if event.booking_id:
                self._hooks.on_entry(event.booking_id, event)
        self._journal.record(
            Entry(
                ts=event.ts,
                kind="access",
                subject=event.gate,
                zone=self._zones.get(event.gate),
                booking=event.booking_id,
                actor=event.kind,
                body={
                    "granted": event.granted,
                    "reason": event.reason,
                    "pass_id": event.pass_id,
                    "reader": event.reader,
                    "subject": event.subject,
                    "opened": opened,
                    "latency_ms": round(event.latency_ms, 2),
                    "detail": event.detail,
                },
            )
        )
        for listener in self._hooks.on_event:
            listener(event)

    async def _pulse(self, gate: str, cause: str) -> bool:
        output = self._relay.get(gate)
        if output is None:
            log.error("gate_has_no_relay", gate=gate)
            return False
        try:
            await self._reconciler.command(output, True, cause)
        except CommandFailed as exc:
            log.error("gate_pulse_failed", gate=gate, error=exc.error)
            return False
        return True

    async def open_gate(self, gate: str, by: str) -> bool:
        """A technician's or the cloud's explicit open (journaled by the caller)."""
        if gate not in {g.id for g in self._cfg.access.gates}:
            raise UnknownGate(gate)
        return await self._pulse(gate, f"technician:{by}")
