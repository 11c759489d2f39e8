"""Gates: credential readers -> access decisions -> gate pulses and access events.

Each credential line (QR scanner, face/card terminal, plate camera; on a serial port or
on Ethernet, as client or server) has one reader; its lines are decided one at a time
per reader by the access service, offline and from SQLite. A grant pulses the gate's
relay through the reconciler (the only writer). Every decision is published on the
daemon's `access` topic, where the journal, the automation (entries, for no-show
release) and the uplink feed hear it. Raw tokens and personal data never reach the logs.
Imported only by a venue with gates (the line drivers with it).
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack

import msgspec
import structlog

from drivers.serial import ScannedLine, SerialEvent, SerialLineReader
from drivers.serial.tcp import TcpLineReader, TcpLineServer
from edge.access.booking_index import BookingIndex
from edge.access.from_config import readers, site_access
from edge.access.loss import CountsLoss
from edge.access.ratelimit import RateLimitSettings, ReaderLimiter
from edge.access.records import AccessEvent
from edge.access.service import AccessService, ReaderSpec
from edge.access.store import SCHEMA as ACCESS_SCHEMA
from edge.access.store import AccessStore
from edge.automation.emergency import EmergencyState
from edge.automation.reconciler import Cause, Reconciler
from edge.bookings.store import BookingsChanged, BookingStore
from edge.clock import Clock
from edge.config.model import SerialLineBus, TcpLineBus, VenueConfig
from edge.gates import pulse_gate, pulse_settings
from edge.storage import Database, kv
from edge.topic import Topic
from edge.venue import GateDrive

log = structlog.get_logger("edge.gates")
SALT_KEY = "access.subject_salt"


class GateComponent:
    name = "gates"

    def __init__(
        self,
        cfg: VenueConfig,
        drives: Mapping[str, GateDrive],
        clock: Clock,
        db: Database,
        bookings: BookingStore,
        reconciler: Reconciler,
        emergency: EmergencyState,
        access: Topic[AccessEvent],
        access_loss: CountsLoss | None = None,
    ) -> None:
        self._cfg = cfg
        self._access_loss = access_loss
        self._clock = clock
        self._db = db
        self._bookings = bookings
        self._reconciler = reconciler
        self._emergency = emergency
        self._access = access
        self._drives = drives
        self._zones = {g.id: g.zones[0] if g.zones else None for g in cfg.access.gates}
        self._queue: asyncio.Queue[ScannedLine] = asyncio.Queue(maxsize=1000)
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
        self._reconciler.set_settings(pulse_settings(self._drives))
        index = BookingIndex(self._cfg.site.id, self._bookings.snapshot())
        store = AccessStore(self._db, site_access(self._cfg), lambda conn: index, self._access_loss)
        limits = RateLimitSettings(
            rate_per_s=self._cfg.access.reader_rate_per_s, burst=self._cfg.access.reader_burst
        )
        limiter = ReaderLimiter(self._clock.monotonic, limits)
        emergency = self._emergency
        service = AccessService(
            store, self._clock, limiter, await self._salt(), emergency=lambda: emergency.active
        )
        specs = {r.reader_id: r for r in readers(self._cfg)}
        lines = [b for b in self._cfg.buses if isinstance(b, SerialLineBus)]
        tcp_lines = [b for b in self._cfg.buses if isinstance(b, TcpLineBus)]

        def rebuild(change: BookingsChanged) -> None:
            index.rebuild(change.bookings)

        async with AsyncExitStack() as stack:
            stack.enter_context(self._bookings.changes.subscribe(rebuild))
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
            for tb in tcp_lines:
                await stack.enter_async_context(self._tcp_reader(tb))
            ready()
            while True:
                line = await self._queue.get()
                spec = specs.get(line.source)
                if spec is not None:
                    await self._decide(service, spec, line)

    def _tcp_reader(self, b: TcpLineBus) -> TcpLineReader | TcpLineServer:
        """A reader on Ethernet: edged connects to it, or it connects to edged."""
        if b.mode == "server":
            return TcpLineServer(
                b.host, b.port, name=b.id, max_line=b.max_line,
                max_connections=b.max_connections, idle_timeout_s=b.idle_timeout_s,
                clock=self._clock, on_event=self._on_serial,
            )  # fmt: skip
        return TcpLineReader(
            b.host, b.port, name=b.id, max_line=b.max_line, idle_timeout_s=b.idle_timeout_s,
            clock=self._clock, on_event=self._on_serial,
        )  # fmt: skip

    async def _decide(self, service: AccessService, spec: ReaderSpec, line: ScannedLine) -> None:
        try:
            event = await service.on_line(spec, line.raw)
        except Exception:  # one bad scan must never stop the gate
            log.exception("access_failed", reader=spec.reader_id)
            return
        if event is not None:
            await self.handle(event)

    async def handle(self, event: AccessEvent) -> None:
        opened: bool | None = None
        if event.granted:
            cause = Cause("access", event.pass_id or event.subject or "", detail=event.kind)
            opened = await pulse_gate(self._reconciler, self._drives, event.gate, cause)
        self._access.publish(
            msgspec.structs.replace(event, zone=self._zones.get(event.gate), opened=opened)
        )
