"""TCP credential readers on real loopback sockets: client mode (the gateway dials the
terminal) and server mode (terminals dial the gateway)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from drivers.serial import (
    PortStatus,
    ScannedLine,
    SerialEvent,
    TcpLineReader,
    TcpLineServer,
)
from edge.clock import SystemClock


async def wait_for(cond: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def texts(events: list[SerialEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, ScannedLine)]


def statuses(events: list[SerialEvent]) -> list[tuple[bool, str]]:
    return [(e.connected, e.reason) for e in events if isinstance(e, PortStatus)]


class Terminal:
    """A face terminal / QR reader that listens: the test decides what each connection sends."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await reader.read()  # until the gateway hangs up

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        await self.server.wait_closed()

    async def send(self, data: bytes) -> None:
        w = self.writers[-1]
        w.write(data)
        await w.drain()


async def test_client_mode_reads_lines_and_reconnects() -> None:
    """Lines, garbage and an oversize line as on a serial reader; the terminal dropping the
    connection mid-line, then going away and coming back: the reader reconnects each time."""
    term = Terminal()
    await term.start()
    events: list[SerialEvent] = []
    reader = TcpLineReader(
        "127.0.0.1", term.port, name="face1", max_line=16, clock=SystemClock(),
        on_event=events.append, reconnect_max_s=0.2,
    )  # fmt: skip
    async with reader:
        await wait_for(lambda: reader.stats.connected and len(term.writers) == 1)
        await term.send(b"QR:PASS-1\r\nnoise\x00\x07\xff\nTHIS-LINE-IS-FAR-TOO-LONG\nQR:2\nQR:PA")
        await wait_for(lambda: len(texts(events)) == 3)
        assert texts(events) == ["QR:PASS-1", "noise\ufffd", "QR:2"]
        assert reader.framer_stats.oversize_dropped == 1
        assert reader.framer_stats.decode_errors == 1
        term.writers[-1].close()  # dropped mid-line
        await wait_for(lambda: reader.stats.connects == 2 and len(term.writers) == 2)
        assert reader.framer_stats.partial_discarded == 1
        await term.stop()  # the terminal is gone (rebooting)
        await wait_for(lambda: not reader.stats.connected)
        await asyncio.sleep(0.5)  # a few failed attempts
        await term.start()  # back on the same port
        await wait_for(lambda: reader.stats.connects == 3 and len(term.writers) == 3)
        await term.send(b"QR:3\n")
        await wait_for(lambda: texts(events)[-1:] == ["QR:3"])
    assert [c for c, _ in statuses(events)] == [True, False, True, False, True]
    assert statuses(events)[1][1] == "closed by the peer"
    await term.stop()


async def test_client_mode_drops_a_silent_connection() -> None:
    """With idle_timeout_s, a connection that carries nothing is dropped and made again."""
    term = Terminal()
    await term.start()
    events: list[SerialEvent] = []
    async with TcpLineReader(
        "127.0.0.1", term.port, clock=SystemClock(), on_event=events.append, idle_timeout_s=0.2,
        reconnect_min_s=0.05,
    ) as reader:  # fmt: skip
        await wait_for(lambda: reader.stats.connects >= 2)
    assert (False, "idle for 0.2 s") in statuses(events)
    await term.stop()


async def test_client_mode_with_nobody_listening_keeps_trying() -> None:
    """No terminal at the address: no event, no exception, attempts with backoff."""
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with TcpLineReader("127.0.0.1", port, clock=SystemClock(), reconnect_max_s=0.1) as r:
        await asyncio.sleep(0.3)
        assert r.stats.connects == 0 and r.events.empty()


async def open_terminal(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def test_server_mode_limits_connections_and_keeps_terminals_apart() -> None:
    """At most max_connections terminals; the next is closed at once; two terminals'
    interleaved bytes never mix; status says whether any terminal is connected."""
    events: list[SerialEvent] = []
    async with TcpLineServer(
        "127.0.0.1", 0, name="gate-face", max_connections=2, max_line=32,
        clock=SystemClock(), on_event=events.append,
    ) as server:  # fmt: skip
        (_r1, w1), (_r2, w2) = await open_terminal(server.port), await open_terminal(server.port)
        await wait_for(lambda: server.stats.active == 2)
        r3, w3 = await open_terminal(server.port)
        assert await asyncio.wait_for(r3.read(), 5) == b""  # refused: closed at once
        assert server.stats.refused == 1
        for chunk in (b"FACE:", b"QR:", b"alice", b"TOKEN", b"\r\n", b"-2\n"):
            writer = w1 if chunk in (b"FACE:", b"alice", b"\r\n") else w2
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)
        await wait_for(lambda: len(texts(events)) == 2)
        assert texts(events) == ["FACE:alice", "QR:TOKEN-2"]
        w1.write(b"x" * 100 + b"\nFACE:bob\n\xff\n")  # oversize, then a line, then garbage
        await w1.drain()
        await wait_for(lambda: len(texts(events)) == 4)
        assert texts(events)[2:] == ["FACE:bob", "\ufffd"]
        assert server.framer_stats.oversize_dropped == 1
        w1.close()
        await wait_for(lambda: server.stats.active == 1)
        assert statuses(events)[-1][0] is True  # one terminal still there
        w2.write(b"half a li")
        await w2.drain()
        w2.close()
        await wait_for(lambda: server.stats.active == 0)
        assert statuses(events)[-1][0] is False
        assert server.framer_stats.partial_discarded == 1
        w3.close()
    assert [e.source for e in events if isinstance(e, ScannedLine)] == ["gate-face"] * 4


async def test_server_mode_closes_idle_connections() -> None:
    """A terminal silent for idle_timeout_s is closed (events go to the queue here)."""
    async with TcpLineServer("127.0.0.1", 0, idle_timeout_s=0.2, clock=SystemClock()) as server:
        reader, writer = await open_terminal(server.port)
        writer.write(b"hello\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the gateway
        assert server.stats.idle_closed == 1
        got: list[SerialEvent] = []
        while not server.events.empty():
            got.append(server.events.get_nowait())
        assert texts(got) == ["hello"]
        assert statuses(got)[-1][0] is False and "idle for 0.2 s" in statuses(got)[-1][1]
        writer.close()


async def test_server_mode_survives_a_flood_and_serves_the_others() -> None:
    """One terminal floods 100,000 lines as fast as it can; a second terminal's scan in the
    middle still arrives; nothing is lost or mixed. Prints the throughput."""
    n = 100_000
    events: list[SerialEvent] = []
    async with TcpLineServer("127.0.0.1", 0, clock=SystemClock(), on_event=events.append) as server:
        (_r1, flood), (_r2, other) = (
            await open_terminal(server.port),
            await open_terminal(server.port),
        )
        started = time.perf_counter()
        payload = b"".join(b"QR:FLOOD-%06d\n" % i for i in range(n))
        flood.write(payload[: len(payload) // 2])
        other.write(b"QR:THE-OTHER\n")
        flood.write(payload[len(payload) // 2 :])
        await asyncio.gather(flood.drain(), other.drain())
        await wait_for(lambda: len(texts(events)) == n + 1, within=60)
        took = time.perf_counter() - started
        got = texts(events)
        assert "QR:THE-OTHER" in got
        flooded = [t for t in got if t != "QR:THE-OTHER"]
        assert flooded == [f"QR:FLOOD-{i:06d}" for i in range(n)]
        flood.close()
        other.close()
    bare = await bare_line_rate(payload)
    print(
        f"\nTCP reader flood: {n} lines in {took:.2f} s = {n / took:,.0f} lines/s; bare "
        f"asyncio readline baseline {bare:,.0f} lines/s; ratio {n / took / bare:.2f}"
    )


async def bare_line_rate(payload: bytes) -> float:
    """Lines/s of a plain asyncio server splitting the same bytes with readline()."""
    count = 0
    done = asyncio.Event()
    total = payload.count(b"\n")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        while await reader.readline():
            count += 1
            if count == total:
                done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        _r, w = await open_terminal(server.sockets[0].getsockname()[1])
        started = time.perf_counter()
        w.write(payload)
        await w.drain()
        await asyncio.wait_for(done.wait(), 60)
        took = time.perf_counter() - started
        w.close()
    return total / took


def test_server_mode_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        TcpLineServer("127.0.0.1", 0, max_connections=0, clock=SystemClock())
