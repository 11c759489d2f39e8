"""A serial line reader (QR/barcode scanner, face/card terminal) that survives unplugging.

`async with SerialLineReader("/dev/ttyACM0", name="gate1") as r:` opens the port,
emits `ScannedLine` per line and `PortStatus` on connect/disconnect, and reopens the
port forever (with growing, jittered delays) after it disappears, e.g. a USB scanner
unplugged and plugged back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import serial_asyncio_fast
import structlog

from ..clock import Clock
from .framer import FramerStats, LineFramer

log = structlog.get_logger("drivers.serial")


@dataclass(frozen=True, slots=True)
class ScannedLine:
    source: str
    text: str
    raw: bytes
    valid_utf8: bool
    ts: datetime


@dataclass(frozen=True, slots=True)
class PortStatus:
    source: str
    connected: bool
    ts: datetime
    reason: str = ""


SerialEvent = ScannedLine | PortStatus


@dataclass(slots=True)
class ReaderStats:
    connects: int = 0
    disconnects: int = 0
    connected: bool = False


class SerialLineReader:
    def __init__(
        self,
        port: str,
        *,
        name: str | None = None,
        baudrate: int = 9600,
        max_line: int = 512,
        clock: Clock,
        on_event: Callable[[SerialEvent], None] | None = None,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 2.0,
    ) -> None:
        self.port = port
        self.name = name or port
        self.baudrate = baudrate
        self.framer = LineFramer(max_line)
        self.stats = ReaderStats()
        self._clock = clock
        self._on_event = on_event
        self._min, self._max = reconnect_min_s, reconnect_max_s
        self._task: asyncio.Task[None] | None = None
        self.events: asyncio.Queue[SerialEvent] = asyncio.Queue(1000)

    @property
    def framer_stats(self) -> FramerStats:
        return self.framer.stats

    async def __aenter__(self) -> SerialLineReader:
        self._task = asyncio.create_task(self._run(), name=f"serial:{self.name}")
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

    def _emit(self, event: SerialEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
            return
        if self.events.full():
            self.events.get_nowait()
        self.events.put_nowait(event)

    async def _run(self) -> None:
        delay = self._min
        logged_down = False
        while True:
            writer: Any = None
            try:
                reader, writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.port, baudrate=self.baudrate
                )
            except (OSError, ValueError) as exc:
                if not logged_down:
                    log.warning("serial_unavailable", port=self.port, error=str(exc))
                    logged_down = True
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._max)
                continue
            delay, logged_down = self._min, False
            self.stats.connects += 1
            self.stats.connected = True
            log.info("serial_connected", port=self.port)
            self._emit(PortStatus(self.name, True, self._clock.now()))
            reason = "end of file"
            try:
                while True:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    for line in self.framer.feed(chunk):
                        self._emit(
                            ScannedLine(
                                self.name, line.text, line.raw, line.valid_utf8, self._clock.now()
                            )
                        )
            except (OSError, ConnectionError) as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # pyserial raises SerialException (an OSError subclass
                reason = f"{type(exc).__name__}: {exc}"  # in most versions; be safe)
            finally:
                with contextlib.suppress(Exception):
                    writer.close()
            self.framer.reset()
            self.stats.disconnects += 1
            self.stats.connected = False
            log.warning("serial_disconnected", port=self.port, reason=reason)
            self._emit(PortStatus(self.name, False, self._clock.now(), reason))
