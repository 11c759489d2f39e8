"""The simulator's GPIO server: serves `SimPins` on a unix socket to edged's `remote` backend.

Protocol: `drivers.gpio.protocol` (version 1, one JSON frame per line). Each connection is
one client's line request, as with the kernel: its lines are `busy` for other connections,
and are released when it closes or dies (outputs keep their level, see sim/gpio.py). Inputs
a connection requested are pushed to it (`changed`) as the world drives them. A frame that
does not decode is refused (`bad_frame`); a connection that sends nothing but bad frames,
or does not read what it is sent, is closed.

Run alone (tests, a bench): `python -m sim.gpio_server --socket PATH --barrier 18:19` serves
a barrier (relay on line 18, closed switch on 19) and prints one JSON event per line on
stdout: `ready`, every `output` change and every barrier `closed` change, with monotonic
instants (CLOCK_MONOTONIC, comparable across processes). Stdin takes `drive LINE 0|1|none`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import structlog

from drivers.gpio import protocol as p
from drivers.gpio.errors import FrameError

from .gpio import PinRefused, SimPins

log = structlog.get_logger("sim.gpio")

MAX_BAD_FRAMES = 32
"""Bad frames in a row before a connection is closed."""
MAX_UNSENT = 1 << 20
"""Bytes waiting for a client that does not read before it is cut off."""


@dataclass(slots=True)
class ServerStats:
    connections: int = 0
    frames: int = 0
    bad_frames: int = 0
    refused: int = 0


class _Conn:
    def __init__(self, pins: SimPins, writer: asyncio.StreamWriter, number: int) -> None:
        self.pins = pins
        self.writer = writer
        self.name = f"conn{number}"
        self.hello = False

    def send(self, frame: p.ServerFrame) -> None:
        if self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_UNSENT:
            log.warning("gpio_client_not_reading", conn=self.name)
            self.writer.close()
            return
        self.writer.write(p.encode(frame))

    def input_changed(self, line: int, level: bool) -> None:
        pin = self.pins.pins.get(line)
        if pin is not None and pin.owner is self and pin.direction == "in":
            self.send(p.Changed(line=line, level=level))


class GpioServer:
    def __init__(self, pins: SimPins, path: str | Path, *, name: str = "edge-sim") -> None:
        self.pins = pins
        self.path = Path(path)
        self.name = name
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def __aenter__(self) -> GpioServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket file left by a killed server
        self._server = await asyncio.start_unix_server(
            self._client, path=str(self.path), limit=p.MAX_FRAME + 2
        )
        log.info("gpio_server_listening", path=str(self.path))

    async def stop(self) -> None:
        """Close the socket and every connection (their lines are released)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._conns):
            conn.writer.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2.0)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self.stats.connections += 1
        conn = _Conn(self.pins, writer, self.stats.connections)
        self._conns.add(conn)
        unwatch = self.pins.watch_inputs(conn.input_changed)
        try:
            await self._serve(conn, reader)
        except (ConnectionError, OSError):
            pass
        finally:
            unwatch()
            released = self.pins.release(conn)
            self._conns.discard(conn)
            writer.close()
            log.info("gpio_client_gone", conn=conn.name, released=released)
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, conn: _Conn, reader: asyncio.StreamReader) -> None:
        bad = 0
        while not conn.writer.is_closing():
            frame: p.ClientFrame | None = None
            error = ""
            try:
                data = await p.read_frame(reader)
                if not data:
                    return
                frame = p.decode_client(data)
            except FrameError as exc:
                error = exc.detail
            if frame is None:
                bad += 1
                self.stats.bad_frames += 1
                if bad >= MAX_BAD_FRAMES:
                    conn.send(p.refused("bad_frame", f"{bad} bad frames in a row; closing"))
                    return
                conn.send(p.refused("bad_frame", error))
                continue
            bad = 0
            self.stats.frames += 1
            reply = self._handle(conn, frame)
            if isinstance(reply, p.Refused):
                self.stats.refused += 1
            conn.send(reply)
            if isinstance(reply, p.Refused) and reply.code == "version":
                return
            await conn.writer.drain()

    def _handle(self, conn: _Conn, frame: p.ClientFrame) -> p.ServerFrame:
        if isinstance(frame, p.Hello):
            if conn.hello:
                return p.refused("protocol", "hello was already said on this connection")
            if frame.v != p.VERSION:
                return p.refused(
                    "version", f"this server speaks GPIO protocol v{p.VERSION}, not v{frame.v}"
                )
            conn.hello = True
            if frame.client:
                conn.name = f"{conn.name}:{frame.client}"
            return p.Welcome(v=p.VERSION, server=self.name)
        if not conn.hello:
            return p.refused("hello_first", f"say hello (v{p.VERSION}) first")
        try:
            match frame:
                case p.Request(id=rid, lines=lines):
                    self.pins.request(conn, lines, conn.name)
                    return p.Ok(id=rid)
                case p.Set(id=rid, line=line, level=level):
                    self.pins.write(conn, line, level, conn.name)
                    return p.Ok(id=rid)
                case p.Get(id=rid, line=line):
                    return p.Ok(id=rid, level=self.pins.read(conn, line))
                case p.Release(id=rid):
                    self.pins.release(conn)
                    return p.Ok(id=rid)
                case p.Ping(id=rid):
                    return p.Ok(id=rid)
        except PinRefused as exc:
            return p.refused(exc.code, exc.message, getattr(frame, "id", None))
        return p.refused("protocol", f"unexpected frame {type(frame).__name__}")  # pragma: no cover


# ---- standalone ---------------------------------------------------------------
def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m sim.gpio_server", description=__doc__)
    ap.add_argument("--socket", required=True, type=Path)
    ap.add_argument(
        "--barrier",
        action="append",
        default=[],
        metavar="RELAY[:CLOSED]",
        help="a barrier: relay line, and the line of its closed switch",
    )
    ap.add_argument("--travel", type=float, default=4.0, help="barrier travel time, s")
    ap.add_argument("--relay-active-low", action="store_true")
    return ap.parse_args(argv)


def _emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def _standalone(args: argparse.Namespace) -> int:
    from edge.clock import SystemClock

    from .devices.barrier import GpioBarrier

    # Stdout carries the JSON events; logs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    clock = SystemClock()
    pins = SimPins(clock)
    pins.watch_outputs(
        lambda line, level: _emit(
            {"ev": "output", "line": line, "level": level, "mono": clock.monotonic()}
        )
    )
    barriers = []
    for i, spec in enumerate(args.barrier):
        relay, _, closed = spec.partition(":")
        barrier = GpioBarrier(
            f"barrier{i}",
            pins,
            clock,
            int(relay),
            relay_active_low=args.relay_active_low,
            closed_line=int(closed) if closed else None,
            travel_s=args.travel,
            on_closed=lambda dev, closed: _emit(
                {"ev": "closed", "device": dev, "closed": closed, "mono": clock.monotonic()}
            ),
        )
        barriers.append(barrier)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for b in barriers:
            await stack.enter_async_context(b)
        await stack.enter_async_context(GpioServer(pins, args.socket))
        _emit({"ev": "ready", "socket": str(args.socket), "pid": os.getpid()})
        stdin = asyncio.create_task(_commands(pins))
        await stop.wait()
        stdin.cancel()
    _emit({"ev": "stopped"})
    return 0


async def _commands(pins: SimPins) -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        words = line.decode(errors="replace").split()
        if len(words) == 3 and words[0] == "drive" and words[1].isdigit():
            level = {"0": False, "1": True, "none": None}.get(words[2], False)
            pins.drive(int(words[1]), level)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_standalone(_parse(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
