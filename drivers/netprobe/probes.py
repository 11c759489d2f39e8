"""One probe of one device: connect, ask, read a bounded answer, judge it.

Ordinary TCP sockets only (asyncio streams): no raw sockets, no ICMP, no capabilities.
The whole exchange, connect included, runs under the device's `timeout_s`; a device
that accepts and never answers costs one timeout, never a stuck task. A probe never
raises: it returns a `ProbeResult` with `ok` and, on failure, a short reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from .settings import NetDevice, ProbeKind
from .wire import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    ProtocolError,
    Reply,
    body_length,
    check_http,
    check_rtsp,
    chunk_size,
    http_head,
    is_chunked,
    onvif_request,
    parse_head,
    parse_onvif_time,
    rtsp_options,
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe. `device_time` is the device's UTC clock (ONVIF only)."""

    ok: bool
    latency_s: float
    detail: str = ""
    device_time: datetime | None = None


Prober = Callable[[NetDevice], Awaitable[ProbeResult]]
"""What the monitor calls to probe a device (`probe` below; tests may script one)."""

_cseq = itertools.count(1)


async def probe(device: NetDevice) -> ProbeResult:
    """Probe `device` once with its own probe kind and timeout."""
    start = time.monotonic()
    device_time: datetime | None = None
    try:
        async with asyncio.timeout(device.timeout_s):
            device_time = await _exchange(device)
    except TimeoutError:
        return _failed(start, f"no answer within {device.timeout_s:g} s")
    except ConnectionRefusedError:
        return _failed(start, "connection refused")
    except asyncio.IncompleteReadError:
        return _failed(start, "connection closed before a complete answer")
    except asyncio.LimitOverrunError:
        return _failed(start, f"answer header longer than {MAX_HEAD_BYTES} bytes")
    except ProtocolError as exc:
        return _failed(start, exc.detail)
    except OSError as exc:  # unreachable, reset, name not resolved...
        return _failed(start, exc.strerror or type(exc).__name__)
    return ProbeResult(True, time.monotonic() - start, "", device_time)


def _failed(start: float, detail: str) -> ProbeResult:
    return ProbeResult(False, time.monotonic() - start, detail)


async def _exchange(device: NetDevice) -> datetime | None:
    host, port, path = device.host, device.effective_port, device.effective_path
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD_BYTES)
    try:
        match device.probe:
            case ProbeKind.TCP:
                return None
            case ProbeKind.RTSP:
                cseq = next(_cseq)
                writer.write(rtsp_options(host, port, path, cseq))
                reply = await _read_reply(reader, "RTSP", with_body=True)
                check_rtsp(reply, cseq)
                return None
            case ProbeKind.HTTP:
                writer.write(http_head(host, port, path))
                check_http(await _read_reply(reader, "HTTP", with_body=False))
                return None
            case ProbeKind.ONVIF:
                writer.write(onvif_request(host, port, path))
                reply = await _read_reply(reader, "HTTP", with_body=True)
                if reply.status != 200:
                    # A SOAP fault comes with 400/500: say what the device said.
                    with contextlib.suppress(ProtocolError):
                        parse_onvif_time(reply.body)
                    raise ProtocolError(reply.summary)
                return parse_onvif_time(reply.body)
    finally:
        writer.close()


async def _read_reply(reader: asyncio.StreamReader, protocol: str, *, with_body: bool) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    reply = parse_head(head[:-4], protocol)
    if not with_body:
        return reply
    body = await _read_body(reader, reply)
    return Reply(reply.protocol, reply.status, reply.reason, reply.headers, body)


async def _read_body(reader: asyncio.StreamReader, reply: Reply) -> bytes:
    if is_chunked(reply):
        parts: list[bytes] = []
        total = 0
        while True:
            size = chunk_size(await reader.readuntil(b"\r\n"))
            if size == 0:
                return b"".join(parts)  # trailers, if any, are not needed
            total += size
            if total > MAX_BODY_BYTES:
                raise ProtocolError(f"chunked body over the {MAX_BODY_BYTES} byte limit")
            parts.append((await reader.readexactly(size + 2))[:-2])
    length = body_length(reply)
    if length is not None:
        return await reader.readexactly(length) if length else b""
    if reply.protocol.startswith("RTSP"):
        return b""  # RTSP: no Content-Length means no body (RFC 2326 12.14)
    body = await reader.read(MAX_BODY_BYTES + 1)
    while body and len(body) <= MAX_BODY_BYTES:
        more = await reader.read(MAX_BODY_BYTES + 1 - len(body))
        if not more:
            break
        body += more
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(f"body over the {MAX_BODY_BYTES} byte limit")
    return body
