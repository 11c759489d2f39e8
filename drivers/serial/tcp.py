"""Credential readers on TCP (face terminals, QR readers on Ethernet), line-based like a serial one.

Same framing (`LineFramer`: CR/LF, `max_line`, bad bytes counted), same events
(`ScannedLine`, `PortStatus`) and the same `async with` shape as `SerialLineReader`, so the
access layer cannot tell them apart.

- `TcpLineReader(host, port)`: client mode. The gateway connects to the terminal and
  reconnects forever with growing, jittered delays; an optional `idle_timeout_s` drops a
  connection that has been silent that long (a half-open TCP link looks idle) and reconnects.
- `TcpLineServer(host, port)`: server mode. Terminals connect to the gateway; at most
  `max_connections` at once (more are closed at once and counted), each closed after
  `idle_timeout_s` without a byte. Each connection has its own framer: lines of two
  terminals never mix. `PortStatus.connected` says whether any terminal is connected; its
  `reason` names the peer that came or went.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import structlog

from ..clock import Clock
from .framer import FramerStats, LineFramer
from .reader import PortStatus, ReaderStats, ScannedLine, SerialEvent

log = structlog.get_logger("drivers.serial")

READ_CHUNK = 4096


@dataclass(slots=True)
class TcpServerStats(ReaderStats):
    """ReaderStats plus what only a listening reader sees."""

    active: int = 0
    refused: int = 0
    idle_closed: int = 0


class _Emitter:
    """Events to a callback, else to a bounded queue (oldest dropped), as SerialLineReader."""

    def __init__(self, name: str, on_event: Callable[[SerialEvent], None] | None) -> None:
        self.name = name
        self._on_event = on_event
        self.events: asyncio.Queue[SerialEvent] = asyncio.Queue(1000)

    def _emit(self, event: SerialEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("reader_callback_failed", reader=self.name)
            return
        if self.events.full():
            self.events.get_nowait()
        self.events.put_nowait(event)


async def _pump(
    reader: asyncio.StreamReader,
    framer: LineFramer,
    idle_timeout_s: float | None,
    line: Callable[[bytes, str, bool], None],
) -> str:
    """Feed lines until the peer closes or stays silent too long; returns why it ended."""
    while True:
        try:
            async with asyncio.timeout(idle_timeout_s):
                chunk = await reader.read(READ_CHUNK)
        except TimeoutError:
            return f"idle for {idle_timeout_s:g} s"
        if not chunk:
            return "closed by the peer"
        for item in framer.feed(chunk):
            line(item.raw, item.text, item.valid_utf8)


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


class TcpLineReader(_Emitter):
    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str | None = None,
        max_line: int = 512,
        clock: Clock,
        on_event: Callable[[SerialEvent], None] | None = None,
        connect_timeout_s: float = 3.0,
        idle_timeout_s: float | None = None,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 5.0,
    ) -> None:
        super().__init__(name or f"{host}:{port}", on_event)
        self.host = host
        self.port = port
        self.framer = LineFramer(max_line)
        self.stats = ReaderStats()
        self._clock = clock
        self._connect_timeout = connect_timeout_s
        self._idle = idle_timeout_s
        self._min, self._max = reconnect_min_s, reconnect_max_s
        self._task: asyncio.Task[None] | None = None

    @property
    def framer_stats(self) -> FramerStats:
        return self.framer.stats

    async def __aenter__(self) -> TcpLineReader:
        self._task = asyncio.create_task(self._run(), name=f"tcp-reader:{self.name}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _line(self, raw: bytes, text: str, valid: bool) -> None:
        self._emit(ScannedLine(self.name, text, raw, valid, self._clock.now()))

    async def _run(self) -> None:
        delay = self._min
        logged_down = False
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self._connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                if not logged_down:
                    log.warning("tcp_reader_unreachable", reader=self.name, error=str(exc))
                    logged_down = True
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._max)
                continue
            delay, logged_down = self._min, False
            _keepalive(writer)
            self.stats.connects += 1
            self.stats.connected = True
            log.info("tcp_reader_connected", reader=self.name)
            self._emit(PortStatus(self.name, True, self._clock.now()))
            try:
                reason = await _pump(reader, self.framer, self._idle, self._line)
            except (OSError, ConnectionError) as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                writer.close()
            self.framer.reset()
            self.stats.disconnects += 1
            self.stats.connected = False
            log.warning("tcp_reader_disconnected", reader=self.name, reason=reason)
            self._emit(PortStatus(self.name, False, self._clock.now(), reason))
            # A terminal that accepts and drops at once must not be hammered.
            await asyncio.sleep(self._min * random.uniform(0.8, 1.2))


class TcpLineServer(_Emitter):
    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str | None = None,
        max_line: int = 512,
        max_connections: int = 4,
        idle_timeout_s: float | None = 300.0,
        clock: Clock,
        on_event: Callable[[SerialEvent], None] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if max_line < 1:
            raise ValueError("max_line must be >= 1")
        super().__init__(name or f"{host}:{port}", on_event)
        self.host = host
        self.port = port
        self.max_line = max_line
        self.max_connections = max_connections
        self.stats = TcpServerStats()
        self._framer_stats = FramerStats()
        self._clock = clock
        self._idle = idle_timeout_s
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def framer_stats(self) -> FramerStats:
        """Totals over every connection."""
        return self._framer_stats

    async def __aenter__(self) -> TcpLineServer:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]  # the real one when 0 was asked
        log.info("tcp_reader_listening", reader=self.name, host=self.host, port=self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for w in list(self._writers):
            w.close()
        handlers = list(self._handlers)
        for t in handlers:
            t.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        if len(self._writers) >= self.max_connections:
            self.stats.refused += 1
            if self.stats.refused & (self.stats.refused - 1) == 0:  # 1, 2, 4...: no log flood
                log.warning(
                    "tcp_reader_refused",
                    reader=self.name,
                    peer=peer,
                    limit=self.max_connections,
                    refused=self.stats.refused,
                )
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        _keepalive(writer)
        framer = LineFramer(self.max_line)
        framer.stats = self._framer_stats  # one total for the reader

        def line(raw: bytes, text: str, valid: bool) -> None:
            self._emit(ScannedLine(self.name, text, raw, valid, self._clock.now()))

        reason = "closed"
        try:
            self._status(True, f"{peer} connected", +1)
            reason = await _pump(reader, framer, self._idle, line)
            if reason.startswith("idle"):
                self.stats.idle_closed += 1
        except (OSError, ConnectionError) as exc:
            reason = str(exc) or type(exc).__name__
        finally:
            self._writers.discard(writer)
            writer.close()
            framer.reset()
            self._status(False, f"{peer}: {reason}", -1)
            if task is not None:
                self._handlers.discard(task)

    def _status(self, came: bool, reason: str, delta: int) -> None:
        self.stats.active += delta
        if came:
            self.stats.connects += 1
        else:
            self.stats.disconnects += 1
        self.stats.connected = self.stats.active > 0
        log.info("tcp_reader_peer", reader=self.name, what=reason, active=self.stats.active)
        self._emit(PortStatus(self.name, self.stats.connected, self._clock.now(), reason))


def _peer(writer: asyncio.StreamWriter) -> str:
    addr = writer.get_extra_info("peername")
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)
