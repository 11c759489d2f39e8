"""Unix-socket server for edgectl: JSON lines, one handler per command.

The socket is mode 0660 and, where the group exists, owned by group `edge`, so a
technician in that group can use edgectl without root. Who asks is read from the
socket's peer credentials (SO_PEERCRED), never from the request. Bad requests are
answered with an error and never reach a handler.

Whoever can reach the socket cannot exhaust the daemon or lock technicians out: at most
`MAX_CONNECTIONS` are open at once; a new one beyond that closes the connection idle the
longest (edgectl sends its request as soon as it connects, so a hoard of idle
connections gives way to it), or, when none is idle, is told so and closed at once. A
connection idle for `IDLE_TIMEOUT_S` is closed, a request line is at most `MAX_LINE` bytes,
and a request nested too deeply to decode is answered like any bad request.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import structlog

from edge.control.handlers import Handler
from edge.control.protocol import MAX_LINE, SOCKET_NAME, VERSION, Request, Response
from edge.ops import Refused

log = structlog.get_logger("edge.control")
MAX_CONNECTIONS = 32
"""edgectl opens one connection per command; a few technicians and `--watch` loops fit."""
IDLE_TIMEOUT_S = 30.0
REFUSAL_LOG_EVERY_S = 60.0


def peer_user(writer: asyncio.StreamWriter) -> str:
    """The connecting process's user name (its uid when it has no name)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return "unknown"
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


class ControlServer:
    name = "control"

    def __init__(
        self, runtime_dir: Path, handlers: dict[str, Handler], group: str = "edge"
    ) -> None:
        self.path = runtime_dir / SOCKET_NAME
        self._handlers = handlers
        self._group = group
        self._decoder = msgspec.json.Decoder(Request)
        self._encoder = msgspec.json.Encoder()
        self.connections = 0
        self.evicted = 0
        """Idle connections closed to make room (logged at most once a minute)."""
        self.refused = 0
        """Connections turned away at the cap with nothing idle to close."""
        self._idle: dict[asyncio.StreamWriter, None] = {}
        """Connections waiting for a request line, oldest first."""
        self._refusal_logged_at = -REFUSAL_LOG_EVERY_S

    async def run(self, ready: Callable[[], None]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_LINE)
        os.chmod(self.path, 0o660)
        with contextlib.suppress(KeyError, PermissionError):
            os.chown(self.path, -1, grp.getgrnam(self._group).gr_gid)
        ready()
        try:
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= MAX_CONNECTIONS:
            if not self._idle:
                await self._turn_away(writer)
                return
            oldest = next(iter(self._idle))
            del self._idle[oldest]
            oldest.transport.abort()  # its session ends and gives its slot back
            self.evicted += 1
            self._log_crowding()
        self.connections += 1
        try:
            await self._session(reader, writer)
        finally:
            self.connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _log_crowding(self) -> None:
        now = time.monotonic()
        if now - self._refusal_logged_at >= REFUSAL_LOG_EVERY_S:
            self._refusal_logged_at = now
            log.warning("control_connections_crowded", open=self.connections,
                        limit=MAX_CONNECTIONS, idle_closed_total=self.evicted,
                        refused_total=self.refused)  # fmt: skip

    async def _turn_away(self, writer: asyncio.StreamWriter) -> None:
        self.refused += 1
        self._log_crowding()
        writer.write(self._encoder.encode(Response(
            VERSION, False, error=f"edged serves at most {MAX_CONNECTIONS} edgectl connections",
            hint="close idle edgectl sessions (--watch loops) and try again",
        )) + b"\n")  # fmt: skip
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            user = peer_user(writer)
        except OSError:
            return
        while True:
            self._idle[writer] = None
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_TIMEOUT_S)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                await self._reply(writer, Response(VERSION, False, error="request too large"))
                return
            finally:
                self._idle.pop(writer, None)
            writer.write(self._encoder.encode(await self._answer(line, user)) + b"\n")
            try:
                await asyncio.wait_for(writer.drain(), IDLE_TIMEOUT_S)
            except (TimeoutError, ConnectionError):
                return  # a client that does not read its answers

    async def _reply(self, writer: asyncio.StreamWriter, response: Response) -> None:
        writer.write(self._encoder.encode(response) + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _answer(self, line: bytes, user: str) -> Response:
        try:
            req = self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            return Response(VERSION, False, error=f"bad request: {exc}")
        except RecursionError:
            return Response(VERSION, False, error="bad request: JSON nested too deeply")
        if req.v != VERSION:
            return Response(
                VERSION,
                False,
                error=f"protocol v{req.v} not supported",
                hint=f"use an edgectl that speaks v{VERSION}",
            )
        handler = self._handlers.get(req.cmd)
        if handler is None:
            return Response(
                VERSION,
                False,
                error=f"unknown command '{req.cmd}'",
                hint="known: " + ", ".join(sorted(self._handlers)),
            )
        try:
            return Response(VERSION, True, result=await handler(req.args, user))
        except Refused as exc:
            return Response(VERSION, False, error=exc.message, hint=exc.hint or None, code=exc.code)
        except Exception as exc:  # a handler bug answers an error; the daemon lives on
            log.exception("control_handler_failed", cmd=req.cmd)
            return Response(VERSION, False, error=f"internal error: {exc!r}")
