"""GpioBus over the remote backend and the simulator's GPIO server, on a real unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from drivers.gpio import GpioBus, GpioDeviceSettings, GpioLinkDown, RemoteGpio
from drivers.gpio import protocol as p
from drivers.gpio.lines import Direction, LineConfig
from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from edge.clock import SystemClock
from sim.devices.barrier import GpioBarrier
from sim.gpio import SimPins
from sim.gpio_server import MAX_BAD_FRAMES, GpioServer

RELAY = GpioDeviceSettings.relay("barrier", 18)
CLOSED = GpioDeviceSettings.input("barrier-closed", 19, debounce_s=0.02)


async def wait_for(cond: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def values(events: list[BusEvent], device: str) -> list[tuple[object, Quality]]:
    return [
        (e.value, e.quality) for e in events if isinstance(e, PointUpdate) and e.device == device
    ]


@pytest.fixture
def sock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short: a unix socket path must fit in 108 bytes.
    return Path(tmp_path_factory.mktemp("g", numbered=True)) / "pins.sock"


@contextlib.asynccontextmanager
async def venue(sock: Path, travel_s: float = 0.3) -> AsyncIterator[tuple[SimPins, GpioServer]]:
    clock = SystemClock()
    pins = SimPins(clock)
    async with (
        GpioBarrier("barrier", pins, clock, 18, closed_line=19, travel_s=travel_s),
        GpioServer(pins, sock) as server,
    ):
        yield pins, server


async def test_relay_is_verified_by_read_back_and_the_switch_is_pushed(sock: Path) -> None:
    """Write on: the server's pin goes high and reads back; the barrier lifts and its closed
    switch reaches the bus without a poll (poll interval 1 h); write off: it closes."""
    events: list[BusEvent] = []
    async with venue(sock) as (pins, _server):
        remote = RemoteGpio(sock)
        async with GpioBus(
            remote, [RELAY, CLOSED], clock=SystemClock(), on_event=events.append,
            poll_interval_s=3600,
        ) as bus:  # fmt: skip
            assert values(events, "barrier-closed") == [(True, Quality.GOOD)]
            result = await bus.write("barrier", "relay", True)
            assert result.verified and result.value is True and pins.level(18) is True
            await wait_for(lambda: values(events, "barrier-closed")[-1] == (False, Quality.GOOD))
            await bus.write("barrier", "relay", False)
            await wait_for(lambda: values(events, "barrier-closed")[-1] == (True, Quality.GOOD))
            assert bus.stats.errors == 0 and bus.stats.latency_max_s > 0
        assert [(c.line, c.level) for c in pins.history] == [(18, True), (18, False)]
        assert remote.stats.bad_frames == 0


async def test_server_restart_takes_devices_offline_and_back(sock: Path) -> None:
    """Server gone: devices offline, writes refused; back: online, relay requested off."""
    events: list[BusEvent] = []
    async with venue(sock) as (pins, server):
        remote = RemoteGpio(sock, reconnect_max_s=0.2)
        async with GpioBus(
            remote, [RELAY, CLOSED], clock=SystemClock(), on_event=events.append
        ) as bus:
            await bus.write("barrier", "relay", True)
            await server.stop()
            await wait_for(lambda: bus.device_online("barrier") is False)
            assert values(events, "barrier")[-1] == (True, Quality.COMM_FAIL)
            with pytest.raises(GpioLinkDown):
                await bus.write("barrier", "relay", True)
            assert pins.level(18) is True  # released, kept its level (worst case, as a chip)
            await server.start()
            await wait_for(lambda: bus.device_online("barrier") is True)
            assert pins.level(18) is False  # requested again: off
            await wait_for(lambda: values(events, "barrier")[-1] == (False, Quality.GOOD))
            assert bus.stats.reconnects == 1 and remote.stats.connects == 2
            assert (await bus.write("barrier", "relay", True)).verified


async def test_server_down_at_start_is_not_an_error(sock: Path) -> None:
    """The bus starts with its devices offline and comes online when the server appears."""
    events: list[BusEvent] = []
    remote = RemoteGpio(sock, connect_wait_s=0.1, reconnect_max_s=0.1)
    async with GpioBus(remote, [RELAY], clock=SystemClock(), on_event=events.append) as bus:
        assert bus.device_online("barrier") is False
        offline = [e for e in events if isinstance(e, DeviceStatus)]
        assert len(offline) == 1 and "cannot connect" in offline[0].reason
        async with venue(sock):
            await wait_for(lambda: bus.device_online("barrier") is True)


async def test_a_line_held_by_another_client_is_busy_until_released(sock: Path) -> None:
    """Two edged on one pin: the second stays offline (busy) until the first lets go."""
    async with venue(sock) as (pins, _server):
        first = GpioBus(RemoteGpio(sock), [RELAY], clock=SystemClock())
        events: list[BusEvent] = []
        second = GpioBus(
            RemoteGpio(sock, reconnect_max_s=0.1), [RELAY], clock=SystemClock(),
            on_event=events.append,
        )  # fmt: skip
        held = contextlib.AsyncExitStack()
        await held.enter_async_context(first)
        try:
            async with second:
                assert second.device_online("barrier") is False
                status = next(e for e in events if isinstance(e, DeviceStatus))
                assert "busy" in status.reason
                await first.write("barrier", "relay", True)
                assert pins.level(18) is True
                await held.aclose()  # the first lets go (its relay off first)
                assert pins.level(18) is False
                await wait_for(lambda: second.device_online("barrier") is True)
                assert (await second.write("barrier", "relay", True)).verified
        finally:
            await held.aclose()


async def raw_session(sock: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(sock), limit=1 << 20)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> dict[str, object]:
    writer.write(data)
    await writer.drain()
    reply: dict[str, object] = json.loads(await asyncio.wait_for(reader.readline(), 5))
    return reply


async def test_server_refuses_bad_frames_and_keeps_serving(sock: Path) -> None:
    """Before hello, garbage, oversize, wrong lines, a busy line: each refused by code; the
    connection goes on serving; a client that sends only garbage is cut off."""
    async with venue(sock) as (pins, server):
        r, w = await raw_session(sock)
        assert (await exchange(r, w, b'{"op":"ping","id":1}\n'))["code"] == "hello_first"
        assert (await exchange(r, w, b"\x00\xff garbage\n"))["code"] == "bad_frame"
        big = b'{"op":"ping","id":1,"pad":"' + b"x" * 10_000 + b'"}\n'
        oversize = await exchange(r, w, big)  # one refusal, however long the frame
        assert oversize["code"] == "bad_frame" and "longer than 4096" in str(oversize["message"])
        welcome = await exchange(r, w, b'{"op":"hello","v":1,"client":"raw"}\n')
        assert welcome == {"op": "welcome", "v": 1, "server": "edge-sim"}
        reply = await exchange(r, w, b'{"op":"set","id":7,"line":18,"level":true}\n')
        assert (reply["code"], reply["id"]) == ("not_requested", 7)
        request = b'{"op":"request","id":8,"lines":[{"line":20,"dir":"in","pull":"up"}]}\n'
        assert await exchange(r, w, request) == {"op": "ok", "id": 8, "level": None}
        reply = await exchange(r, w, b'{"op":"set","id":9,"line":20,"level":true}\n')
        assert reply["code"] == "not_output"
        assert (await exchange(r, w, b'{"op":"get","id":10,"line":20}\n'))["level"] is True
        pins.drive(20, False)  # the world moves the input: pushed unasked
        pushed = json.loads(await asyncio.wait_for(r.readline(), 5))
        assert pushed == {"op": "changed", "line": 20, "level": False}
        r2, w2 = await raw_session(sock)
        await exchange(r2, w2, b'{"op":"hello","v":1}\n')
        assert (await exchange(r2, w2, request))["code"] == "busy"
        for _ in range(MAX_BAD_FRAMES):
            w2.write(b"nonsense\n")
        await w2.drain()
        replies = [json.loads(line) async for line in r2]  # until the server closes
        assert len(replies) == MAX_BAD_FRAMES and "closing" in replies[-1]["message"]
        r3, w3 = await raw_session(sock)
        reply = await exchange(r3, w3, b'{"op":"hello","v":2}\n')
        assert reply["code"] == "version" and await r3.read() == b""  # closed after refusal
        assert server.stats.bad_frames >= MAX_BAD_FRAMES + 2
        for writer in (w, w2, w3):
            writer.close()


async def test_client_ignores_bad_frames_from_a_server(sock: Path) -> None:
    """A server that mixes garbage into its frames: counted and skipped; the good ones work."""
    changes: list[tuple[int, bool]] = []

    class Listener:
        def line_changed(self, line: int, value: bool) -> None:
            changes.append((line, value))

        def link_changed(self, up: bool, reason: str) -> None:
            pass

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            frame = p.decode_client(line)
            writer.write(b"\xff\xfe not json\n" + b"[" * 5000 + b"\n")
            writer.write(b'{"op":"ok","id":99999}\n')  # nobody asked
            writer.write(b'{"op":"changed","line":7,"level":true}\n')  # not requested
            if isinstance(frame, p.Hello):
                writer.write(p.encode(p.Welcome(v=1)))
            elif isinstance(frame, p.Request | p.Get):
                writer.write(p.encode(p.Ok(id=frame.id, level=True)))
                writer.write(p.encode(p.Changed(line=19, level=False)))
            await writer.drain()

    server = await asyncio.start_unix_server(liar, str(sock))
    async with server:
        remote = RemoteGpio(sock, timeout_s=0.3)  # it never answers `release`
        await remote.open([LineConfig(19, Direction.INPUT, active_low=True)], Listener())
        assert remote.connected
        assert await remote.get(19) is False  # high on an active-low line
        await wait_for(lambda: (19, True) in changes)  # pushed low: active
        assert (7, True) not in changes
        assert remote.stats.bad_frames >= 4
        await remote.close()


async def test_client_refused_by_a_newer_server_stays_offline(sock: Path) -> None:
    """A server that does not speak v1 refuses hello: the link stays down, with the reason."""
    reasons: list[str] = []

    class Listener:
        def line_changed(self, line: int, value: bool) -> None:
            pass

        def link_changed(self, up: bool, reason: str) -> None:
            reasons.append(reason)

    async def newer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(p.encode(p.refused("version", "this server speaks GPIO protocol v2")))
        writer.close()

    server = await asyncio.start_unix_server(newer, str(sock))
    async with server:
        remote = RemoteGpio(sock, connect_wait_s=0.3, reconnect_max_s=0.05)
        await remote.open([LineConfig(18, Direction.OUTPUT)], Listener())
        assert not remote.connected
        assert reasons and "v2" in reasons[0]
        await remote.close()


async def test_edgectl_blocking_access_reaches_the_server(sock: Path) -> None:
    """`edgectl gpio --backend remote` (blocking, its own loop in a thread) drives a served pin."""
    from drivers.gpio import open_backend

    def pulse() -> bool:
        gpio = open_backend("remote", socket=str(sock))
        try:
            gpio.setup_output(18, False)
            gpio.write(18, True)
            seen = gpio.read(18)
            gpio.write(18, False)
            return seen
        finally:
            gpio.close()

    async with venue(sock) as (pins, server):
        assert await asyncio.to_thread(pulse) is True
        assert [c.level for c in pins.history] == [True, False]
        await wait_for(lambda: server.connections == 0)
