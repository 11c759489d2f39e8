"""Unix-socket server for edgectl: JSON lines, one handler per command.

The socket is mode 0660 and, where the group exists, owned by group `edge`, so a
technician in that group can use edgectl without root. Who asks is read from the
socket's peer credentials (SO_PEERCRED), never from the request. Bad requests are
answered with an error and never reach a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import msgspec
import structlog

from edge.control.handlers import Handler
from edge.control.protocol import MAX_LINE, SOCKET_NAME, VERSION, Request, Response
from edge.ops import Refused

log = structlog.get_logger("edge.control")


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
        user = peer_user(writer)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._reply(writer, Response(VERSION, False, error="request too large"))
                    return
                writer.write(self._encoder.encode(await self._answer(line, user)) + b"\n")
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _reply(self, writer: asyncio.StreamWriter, response: Response) -> None:
        writer.write(self._encoder.encode(response) + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _answer(self, line: bytes, user: str) -> Response:
        try:
            req = self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            return Response(VERSION, False, error=f"bad request: {exc}")
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
