"""Simulated IP cameras on loopback: RTSP, HTTP and ONVIF responders, each on its own port.

    async with SimCameras(50) as cams:
        cams.endpoint("cam-01")              # CameraEndpoint(host, rtsp, http, onvif)
        await cams.set_fault("cam-07", "offline", True)

Each camera answers as a real one does, one request per connection:
- RTSP `OPTIONS` -> `RTSP/1.0 200 OK` echoing the CSeq, with a `Public:` list;
- HTTP `HEAD` (or GET) -> `HTTP/1.1 200 OK`;
- ONVIF `POST` of `GetSystemDateAndTime` -> a SOAP 1.2 answer with its UTC clock.
Faults, per camera:
- `offline`: its ports are closed (connections refused) and open connections dropped;
- `hung`: it accepts connections and never answers (the prober must time out);
- `wrong`: it answers with errors (RTSP 503, HTTP 500, a SOAP fault).

Run alone (for benchmarks, in another process): `python -m sim.cameras --count 50`
prints one JSON line `{"cam-01": [host, rtsp, http, onvif], ...}` and serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType

CAMERA_FAULTS = ("offline", "hung", "wrong")
SERVICES = ("rtsp", "http", "onvif")
_MAX_REQUEST = 65536


@dataclass(frozen=True, slots=True)
class CameraEndpoint:
    host: str
    rtsp: int
    http: int
    onvif: int

    def port(self, service: str) -> int:
        return int(getattr(self, service))


@dataclass
class SimCamera:
    """One camera: its listeners, fault switches and request counter."""

    name: str
    host: str
    ports: dict[str, int] = field(default_factory=dict)
    offline: bool = False
    hung: bool = False
    wrong: bool = False
    requests: int = 0
    servers: dict[str, asyncio.Server] = field(default_factory=dict)
    connections: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def endpoint(self) -> CameraEndpoint:
        return CameraEndpoint(
            self.host, self.ports["rtsp"], self.ports["http"], self.ports["onvif"]
        )


class SimCameras:
    """N simulated cameras `cam-01`.. (or the given names). Single use: one `async with`."""

    def __init__(
        self,
        count: int = 50,
        *,
        names: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        chosen = list(names) if names is not None else [f"cam-{i:02d}" for i in range(1, count + 1)]
        if len(set(chosen)) != len(chosen):
            raise ValueError("camera names must be unique")
        self.host = host
        self.cameras = {n: SimCamera(n, host) for n in chosen}
        self._now = now or (lambda: datetime.now(UTC))

    async def __aenter__(self) -> SimCameras:
        try:
            for cam in self.cameras.values():
                await self._listen(cam)
        except BaseException:
            await self._close_all()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close_all()

    # ---- API ---------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.cameras)

    def endpoint(self, name: str) -> CameraEndpoint:
        return self._camera(name).endpoint

    async def set_fault(self, name: str, fault: str, on: bool) -> None:
        """Switch `offline`, `hung` or `wrong` on or off for one camera."""
        cam = self._camera(name)
        if fault not in CAMERA_FAULTS:
            raise ValueError(f"unknown camera fault {fault!r}; one of {CAMERA_FAULTS}")
        if fault == "offline":
            if on and not cam.offline:
                cam.offline = True
                await self._close(cam)
            elif not on and cam.offline:
                cam.offline = False
                await self._listen(cam)
            return
        setattr(cam, fault, on)

    async def heal(self, name: str) -> None:
        for fault in CAMERA_FAULTS:
            await self.set_fault(name, fault, False)

    # ---- servers -----------------------------------------------------------
    def _camera(self, name: str) -> SimCamera:
        cam = self.cameras.get(name)
        if cam is None:
            raise KeyError(f"no simulated camera {name!r}; cameras: {', '.join(self.cameras)}")
        return cam

    async def _listen(self, cam: SimCamera) -> None:
        for service in SERVICES:
            port = cam.ports.get(service, 0)  # the same port again after an outage

            async def handle(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                _cam: SimCamera = cam,
                _service: str = service,
            ) -> None:
                await self._serve(_cam, _service, reader, writer)

            server = await asyncio.start_server(handle, cam.host, port, limit=_MAX_REQUEST)
            cam.servers[service] = server
            cam.ports[service] = server.sockets[0].getsockname()[1]

    async def _close(self, cam: SimCamera) -> None:
        servers = list(cam.servers.values())
        cam.servers.clear()
        for s in servers:
            s.close()
        for w in list(cam.connections):
            w.transport.abort()
        cam.connections.clear()
        for s in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), 1.0)

    async def _close_all(self) -> None:
        for cam in self.cameras.values():
            await self._close(cam)

    async def _serve(
        self,
        cam: SimCamera,
        service: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        cam.connections.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            cam.requests += 1
            if cam.hung:
                await reader.read()  # never answer; wait for the client to give up
                return
            lines = head.decode("latin-1").split("\r\n")
            headers = _headers(lines[1:])
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(min(length, _MAX_REQUEST)) if length else b""
            writer.write(self._answer(cam, service, lines[0], headers, body))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ValueError:
            pass  # an unreadable request: hang up, as a camera's small web server does
        finally:
            cam.connections.discard(writer)
            writer.close()

    def _answer(
        self, cam: SimCamera, service: str, request_line: str, headers: dict[str, str], body: bytes
    ) -> bytes:
        method = request_line.split(" ", 1)[0]
        if service == "rtsp":
            cseq = headers.get("cseq", "0")
            if cam.wrong:
                return f"RTSP/1.0 503 Service Unavailable\r\nCSeq: {cseq}\r\n\r\n".encode()
            if method != "OPTIONS":
                return f"RTSP/1.0 405 Method Not Allowed\r\nCSeq: {cseq}\r\n\r\n".encode()
            return (
                f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nServer: sim-camera\r\n"
                "Public: OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY\r\n\r\n"
            ).encode()
        if service == "http":
            status = "500 Internal Server Error" if cam.wrong else "200 OK"
            return (
                f"HTTP/1.1 {status}\r\nServer: sim-camera\r\nContent-Type: text/html\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n"
            ).encode()
        if cam.wrong or b"GetSystemDateAndTime" not in body:
            return _http(500, "Internal Server Error", _soap_fault("device busy"))
        return _http(200, "OK", _date_time_answer(self._now()))


def _headers(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def _http(status: int, reason: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\nServer: sim-camera\r\n"
        "Content-Type: application/soap+xml; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
    ' xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>{}</s:Body></s:Envelope>'
)


def _date_time_answer(now: datetime) -> bytes:
    t = now.astimezone(UTC)
    body = (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
        f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
        f"<tt:Second>{t.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{t.year}</tt:Year><tt:Month>{t.month}</tt:Month>"
        f"<tt:Day>{t.day}</tt:Day></tt:Date>"
        "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )
    return _ENVELOPE.format(body).encode()


def _soap_fault(reason: str) -> bytes:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>'
    )
    return _ENVELOPE.format(body).encode()


# ---- standalone ------------------------------------------------------------------------
async def _serve_standalone(count: int) -> None:
    async with SimCameras(count) as cams:
        ports = {}
        for n in cams.names:
            ep = cams.endpoint(n)
            ports[n] = [ep.host, ep.rtsp, ep.http, ep.onvif]
        print(json.dumps(ports), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve simulated IP cameras on loopback")
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args(argv)
    asyncio.run(_serve_standalone(args.count))


if __name__ == "__main__":
    main()
