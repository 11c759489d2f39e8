"""The remote GPIO protocol (version 1): JSON objects, one per line, on a unix socket.

It lets edged drive pins that live in another process (the simulator's GPIO server).

    client -> server                          server -> client
    {"op":"hello","v":1,"client":"edged"}     {"op":"welcome","v":1,"server":"edge-sim"}
    {"op":"request","id":1,"lines":[          {"op":"ok","id":1}
      {"line":18,"dir":"out","level":false},
      {"line":19,"dir":"in","pull":"up"}]}
    {"op":"set","id":2,"line":18,"level":true} {"op":"ok","id":2}
    {"op":"get","id":3,"line":18}             {"op":"ok","id":3,"level":true}
    {"op":"release","id":4}                   {"op":"ok","id":4}
    {"op":"ping","id":5}                      {"op":"ok","id":5}
                                              {"op":"changed","line":19,"level":false}
                                              {"op":"refused","id":2,"code":"busy",
                                               "message":"..."}

Levels are electrical (true = high); active-low is the client's business. `hello` comes
first and names the version; a server that does not speak it answers `refused` with code
`version` and closes. A frame is at most MAX_FRAME bytes; anything that does not decode
into one of these frames is refused (`bad_frame`) by the server and counted and ignored by
the client. `changed` is pushed, unasked, for every input the connection requested.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from .errors import FrameError
from .lines import MAX_LINE

VERSION = 1
MAX_FRAME = 4096
MAX_LINES_PER_REQUEST = 64

LineNo = Annotated[int, Meta(ge=0, le=MAX_LINE)]
ReqId = Annotated[int, Meta(ge=0, le=2**31 - 1)]
Name = Annotated[str, Meta(max_length=100)]
Message = Annotated[str, Meta(max_length=500)]


class _Frame(Struct, frozen=True, forbid_unknown_fields=True, tag_field="op"):
    pass


class Hello(_Frame, frozen=True, tag="hello"):
    v: Annotated[int, Meta(ge=0, le=65535)]
    client: Name = ""


class LineSpec(Struct, frozen=True, forbid_unknown_fields=True):
    line: LineNo
    dir: Literal["in", "out"]
    pull: Literal["up", "down", "off"] = "off"
    level: bool = False
    """Outputs: the electrical level driven from the moment of the request."""


class Request(_Frame, frozen=True, tag="request"):
    id: ReqId
    lines: Annotated[list[LineSpec], Meta(max_length=MAX_LINES_PER_REQUEST)]


class Set(_Frame, frozen=True, tag="set"):
    id: ReqId
    line: LineNo
    level: bool


class Get(_Frame, frozen=True, tag="get"):
    id: ReqId
    line: LineNo


class Release(_Frame, frozen=True, tag="release"):
    id: ReqId


class Ping(_Frame, frozen=True, tag="ping"):
    id: ReqId


class Welcome(_Frame, frozen=True, tag="welcome"):
    v: Annotated[int, Meta(ge=0, le=65535)]
    server: Name = ""


class Ok(_Frame, frozen=True, tag="ok"):
    id: ReqId
    level: bool | None = None


class Refused(_Frame, frozen=True, tag="refused"):
    code: Name
    message: Message
    id: ReqId | None = None


class Changed(_Frame, frozen=True, tag="changed"):
    line: LineNo
    level: bool


ClientFrame = Hello | Request | Set | Get | Release | Ping
ServerFrame = Welcome | Ok | Refused | Changed

_client = msgspec.json.Decoder(ClientFrame)
_server = msgspec.json.Decoder(ServerFrame)
_encoder = msgspec.json.Encoder()


def encode(frame: ClientFrame | ServerFrame) -> bytes:
    """One frame as it goes on the wire (newline-terminated)."""
    return _encoder.encode(frame) + b"\n"


def refused(code: str, message: str, id: int | None = None) -> Refused:
    """A refusal, with the message cut to what the protocol carries."""
    return Refused(code=code[:100], message=message[:500], id=id)


def _strip(data: bytes) -> bytes:
    if len(data) > MAX_FRAME + 2:
        raise FrameError(f"frame of {len(data)} bytes; at most {MAX_FRAME}")
    data = data.rstrip(b"\r\n")
    if len(data) > MAX_FRAME:
        raise FrameError(f"frame of {len(data)} bytes; at most {MAX_FRAME}")
    if not data:
        raise FrameError("empty frame")
    return data


def decode_client(data: bytes) -> ClientFrame:
    """A client frame from one line; FrameError (naming the problem) for anything else."""
    try:
        return _client.decode(_strip(data))
    except msgspec.MsgspecError as exc:
        raise FrameError(str(exc)) from None


def decode_server(data: bytes) -> ServerFrame:
    """A server frame from one line; FrameError (naming the problem) for anything else."""
    try:
        return _server.decode(_strip(data))
    except msgspec.MsgspecError as exc:
        raise FrameError(str(exc)) from None


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The next frame's bytes (b"" at the end of the stream).

    An oversize frame is skipped up to its newline, whatever its length, and raises
    FrameError once; the stream must have been opened with `limit=MAX_FRAME + 2`, so no
    more than that is ever buffered.
    """
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial  # the peer closed: what it sent without a newline, or b""
    except asyncio.LimitOverrunError as exc:
        skipped = await _skip_line(reader, exc.consumed)
        raise FrameError(f"frame longer than {MAX_FRAME} bytes ({skipped} skipped)") from None


async def _skip_line(reader: asyncio.StreamReader, consumed: int) -> int:
    total = 0
    try:
        while True:
            await reader.readexactly(consumed)
            total += consumed
            try:
                return total + len(await reader.readuntil(b"\n"))
            except asyncio.LimitOverrunError as exc:
                consumed = exc.consumed
    except asyncio.IncompleteReadError as exc:
        return total + len(exc.partial)
