"""A GPIO backend whose pins live in another process, reached over a unix socket.

The simulator serves its pins this way (`sim/gpio_server.py`), so edged and the simulated
venue run as separate processes exactly as on a gateway. The wire protocol is
`drivers.gpio.protocol`. One supervisor task owns the connection: it connects, says hello,
requests every line (outputs at their initial, safe value) and then reads frames: replies
resolve the waiting call, `changed` frames go to the listener, so nothing polls the socket.
When the server goes away the pending calls fail with GpioLinkDown, the listener hears the
link is down, and the supervisor reconnects forever with growing, jittered delays; on the
way back it requests the lines again and tells the listener, which re-reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from . import protocol as p
from .backend import GpioListener
from .errors import FrameError, GpioError, GpioLinkDown, GpioRefused, GpioTimeout
from .lines import LineConfig

log = structlog.get_logger("drivers.gpio")


@dataclass(slots=True)
class RemoteStats:
    connects: int = 0
    disconnects: int = 0
    bad_frames: int = 0
    timeouts: int = 0


class _Closed(Exception):
    """The session ended; `args[0]` says why."""


class RemoteGpio:
    def __init__(
        self,
        path: str | Path,
        *,
        client_name: str = "edged",
        timeout_s: float = 1.0,
        connect_wait_s: float = 1.0,
        reconnect_min_s: float = 0.05,
        reconnect_max_s: float = 2.0,
    ) -> None:
        self.path = str(path)
        self.client_name = client_name[:100]
        self.timeout_s = timeout_s
        self.connect_wait_s = connect_wait_s
        self.stats = RemoteStats()
        self._min, self._max = reconnect_min_s, reconnect_max_s
        self._configs: dict[int, LineConfig] = {}
        self._listener: GpioListener | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._write_lock = asyncio.Lock()
        self._pending: dict[int, asyncio.Future[p.Ok]] = {}
        self._ids = itertools.count(1)
        self._up = asyncio.Event()
        self._reason = "not connected yet"
        self._task: asyncio.Task[None] | None = None
        self._told: bool | None = None  # the link state the listener last heard

    @property
    def label(self) -> str:
        return f"remote:{self.path}"

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    async def open(self, lines: Sequence[LineConfig], listener: GpioListener) -> None:
        self._configs = {c.line: c for c in lines}
        self._listener = listener
        self._task = asyncio.create_task(self._supervise(), name=f"gpio-remote:{self.path}")
        # Readiness: give the server one wait to answer; a server that is down is not an
        # error here (the bus reports its devices offline and the supervisor keeps trying).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_wait_s):
                await self._up.wait()

    async def close(self) -> None:
        if self.connected:
            with contextlib.suppress(GpioError):
                await self._call(lambda i: p.Release(id=i))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._up.clear()
        self._writer = None
        self._reason, self._told = "closed", None

    async def set(self, line: int, value: bool) -> None:
        c = self._config(line)
        await self._call(lambda i: p.Set(id=i, line=line, level=c.level(value)))

    async def get(self, line: int) -> bool:
        c = self._config(line)
        reply = await self._call(lambda i: p.Get(id=i, line=line))
        if reply.level is None:
            raise FrameError(f"reply to get of line {line} carries no level")
        return c.level(reply.level)

    def _config(self, line: int) -> LineConfig:
        try:
            return self._configs[line]
        except KeyError:
            raise GpioError(f"line {line} was not requested from {self.path}") from None

    async def _call(self, make: Callable[[int], p.ClientFrame]) -> p.Ok:
        writer = self._writer
        if writer is None or not self.connected:
            raise GpioLinkDown(self.label, self._reason)
        rid = next(self._ids) % (2**31)
        future: asyncio.Future[p.Ok] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self._send(writer, make(rid))
            async with asyncio.timeout(self.timeout_s):
                return await future
        except TimeoutError:
            self.stats.timeouts += 1
            raise GpioTimeout(self.label, f"no reply within {self.timeout_s} s") from None
        except (OSError, ConnectionError) as exc:
            raise GpioLinkDown(self.label, str(exc) or type(exc).__name__) from None
        finally:
            self._pending.pop(rid, None)

    async def _send(self, writer: asyncio.StreamWriter, frame: p.ClientFrame) -> None:
        async with self._write_lock:
            writer.write(p.encode(frame))
            await writer.drain()

    # ---- the connection ----------------------------------------------------
    async def _supervise(self) -> None:
        delay = self._min
        logged_down = False
        while True:
            was_up = False
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.path, limit=p.MAX_FRAME + 2),
                    self.timeout_s,
                )
            except (OSError, TimeoutError) as exc:
                reason = f"cannot connect to {self.path}: {_reason(exc)}"
            else:
                try:
                    await self._handshake(reader, writer)
                    was_up = True
                    self._went_up(writer)
                    logged_down = False
                    reason = await self._read_loop(reader)
                except (OSError, ConnectionError, TimeoutError, GpioError, _Closed) as exc:
                    reason = _reason(exc)
                finally:
                    self._writer = None
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
            self._went_down(reason, was_up, log_it=not logged_down)
            logged_down = True
            if was_up:
                delay = self._min
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._max)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(self.timeout_s):
            await self._send(writer, p.Hello(v=p.VERSION, client=self.client_name))
            welcome = await self._reply(reader, None)
            if isinstance(welcome, p.Refused):
                raise GpioRefused(welcome.code, welcome.message)
            if not isinstance(welcome, p.Welcome) or welcome.v != p.VERSION:
                raise GpioRefused("version", f"server answered {welcome!r} to hello v{p.VERSION}")
            specs = [
                p.LineSpec(
                    line=c.line,
                    dir="out" if c.is_output else "in",
                    pull=c.pull,
                    level=c.level(c.initial),
                )
                for c in self._configs.values()
            ]
            await self._send(writer, p.Request(id=0, lines=specs))
            answer = await self._reply(reader, 0)
            if isinstance(answer, p.Refused):
                raise GpioRefused(answer.code, answer.message)

    async def _reply(
        self, reader: asyncio.StreamReader, rid: int | None
    ) -> p.Welcome | p.Ok | p.Refused:
        """During the handshake: the welcome (`rid` None) or the reply to request `rid`;
        anything else (pushed changes, stray replies) is skipped."""
        while True:
            frame = self._decode(await self._line(reader))
            if isinstance(frame, p.Refused) and frame.id in (None, rid):
                return frame
            if rid is None and isinstance(frame, p.Welcome):
                return frame
            if rid is not None and isinstance(frame, p.Ok) and frame.id == rid:
                return frame

    async def _line(self, reader: asyncio.StreamReader) -> bytes:
        try:
            data = await p.read_frame(reader)
        except FrameError as exc:  # oversize: skipped
            self.stats.bad_frames += 1
            log.warning("gpio_bad_frame", path=self.path, detail=exc.detail)
            return b""
        if not data:
            raise _Closed("server closed the connection")
        return data

    def _decode(self, data: bytes) -> p.ServerFrame | None:
        if not data:
            return None
        try:
            return p.decode_server(data)
        except FrameError as exc:
            self.stats.bad_frames += 1
            log.warning("gpio_bad_frame", path=self.path, detail=exc.detail)
            return None

    async def _read_loop(self, reader: asyncio.StreamReader) -> str:
        while True:
            frame = self._decode(await self._line(reader))
            if frame is None:
                continue
            if isinstance(frame, p.Changed):
                self._changed(frame)
            elif isinstance(frame, p.Ok | p.Refused) and frame.id is not None:
                future = self._pending.get(frame.id)
                if future is None or future.done():
                    continue  # the caller timed out and left
                if isinstance(frame, p.Ok):
                    future.set_result(frame)
                else:
                    future.set_exception(GpioRefused(frame.code, frame.message))
            elif isinstance(frame, p.Refused):
                log.warning("gpio_server_refused", path=self.path, code=frame.code)

    def _changed(self, frame: p.Changed) -> None:
        c = self._configs.get(frame.line)
        if c is None or c.is_output or self._listener is None:
            return
        try:
            self._listener.line_changed(frame.line, c.level(frame.level))
        except Exception:
            log.exception("gpio_listener_failed", path=self.path)

    def _went_up(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._reason = ""
        self.stats.connects += 1
        self._up.set()
        log.info("gpio_remote_connected", path=self.path, lines=sorted(self._configs))
        self._tell(True, "")

    def _went_down(self, reason: str, was_up: bool, *, log_it: bool) -> None:
        self._reason = reason
        self._up.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(GpioLinkDown(self.label, reason))
        if was_up:
            self.stats.disconnects += 1
        if was_up or log_it:
            log.warning("gpio_remote_down", path=self.path, reason=reason)
        self._tell(False, reason)

    def _tell(self, up: bool, reason: str) -> None:
        if self._told is up or self._listener is None:
            return
        self._told = up
        try:
            self._listener.link_changed(up, reason)
        except Exception:
            log.exception("gpio_listener_failed", path=self.path)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _Closed):
        return str(exc.args[0])
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
