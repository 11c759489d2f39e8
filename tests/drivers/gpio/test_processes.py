"""edged's GPIO side and the simulated GPIO as separate processes, as on a gateway.

- The simulator's GPIO server runs as its own process; a GpioBus here drives its barrier
  relay, verified by read-back, and survives the server being killed and restarted.
- The client side runs as its own process and is killed with SIGKILL in the middle of a
  pulse: the released relay line keeps its level (the worst case a real chip allows) until
  the client starts again and requests it off.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.gpio import GpioBus, GpioDeviceSettings, RemoteGpio
from drivers.modbus.events import BusEvent, PointUpdate, Quality
from edge.clock import SystemClock
from sim.devices.barrier import GpioBarrier
from sim.gpio import SimPins
from sim.gpio_server import GpioServer

ROOT = Path(__file__).resolve().parents[3]
TRAVEL_S = 0.5


async def wait_for(cond: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Proc:
    """A child process whose stdout lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Proc:
        self.lines = []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().strip())

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.lines if x.startswith("{")]

    async def wait_line(self, cond: Callable[[str], bool], within: float = 20.0) -> None:
        await wait_for(lambda: any(cond(x) for x in self.lines), within)

    async def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        if self._reader is not None:
            await self._reader
        return code


def relay_updates(events: list[BusEvent], device: str) -> list[tuple[object, Quality]]:
    return [
        (e.value, e.quality) for e in events if isinstance(e, PointUpdate) and e.device == device
    ]


async def test_relay_driven_in_another_process_with_read_back(tmp_path: Path) -> None:
    """GpioBus -> remote backend -> `python -m sim.gpio_server` (another process): the relay
    is verified by read-back, the barrier's closed switch comes back pushed, the pulse the
    barrier saw matches the one sent; the server killed and restarted is reconnected."""
    sock = tmp_path / "pins.sock"
    server = Proc(
        "-m", "sim.gpio_server", "--socket", str(sock), "--barrier", "18:19",
        "--travel", str(TRAVEL_S),
    )  # fmt: skip
    await server.start()
    events: list[BusEvent] = []
    devices = [
        GpioDeviceSettings.relay("barrier", 18),
        GpioDeviceSettings.input("barrier-closed", 19, debounce_s=0.02),
    ]
    try:
        await server.wait_line(lambda x: '"ready"' in x)
        remote = RemoteGpio(sock, reconnect_max_s=0.2)
        async with GpioBus(remote, devices, clock=SystemClock(), on_event=events.append) as bus:
            t_on = time.monotonic()
            on = await bus.write("barrier", "relay", True)
            await wait_for(lambda: relay_updates(events, "barrier-closed")[-1][0] is False)
            await asyncio.sleep(0.8 - (time.monotonic() - t_on))
            t_off = time.monotonic()
            off = await bus.write("barrier", "relay", False)
            await wait_for(lambda: relay_updates(events, "barrier-closed")[-1][0] is True)
            assert (on.verified, on.value, off.verified, off.value) == (True, True, True, False)

            outputs = [e for e in server.events() if e["ev"] == "output" and e["line"] == 18]
            levels = [e["level"] for e in outputs]
            assert levels[-2:] == [True, False]
            sim_pulse = outputs[-1]["mono"] - outputs[-2]["mono"]
            sent = t_off - t_on
            print(f"\npulse sent {sent * 1000:.1f} ms, seen by the sim {sim_pulse * 1000:.1f} ms")
            assert abs(sim_pulse - sent) < 0.1
            closed = [e["closed"] for e in server.events() if e["ev"] == "closed"]
            assert closed == [False, True]

            await server.kill(signal.SIGKILL)
            await wait_for(lambda: bus.device_online("barrier") is False)
            await server.start()
            await wait_for(lambda: bus.device_online("barrier") is True)
            assert (await bus.write("barrier", "relay", True)).verified
            assert bus.stats.reconnects == 1
    finally:
        await server.kill(signal.SIGTERM)


async def test_kill_9_mid_pulse_then_restart_leaves_the_relay_off(tmp_path: Path) -> None:
    """The client process is SIGKILLed while its relay is on: the line keeps its level
    (released, as on a chip) and the barrier stays up; the restarted client requests it
    off at once and the barrier closes."""
    sock = tmp_path / "pins.sock"
    clock = SystemClock()
    pins = SimPins(clock)
    async with (
        GpioBarrier("barrier", pins, clock, 18, closed_line=19, travel_s=TRAVEL_S) as barrier,
        GpioServer(pins, sock) as server,
    ):
        client = Proc("-m", "tests.drivers.gpio.relay_client", str(sock), "--pulse", "30")
        await client.start()
        try:
            await client.wait_line(lambda x: x == "on")
            assert barrier.energised
            await wait_for(lambda: not barrier.closed)  # lifting
            await client.kill(signal.SIGKILL)
            await wait_for(lambda: server.connections == 0)
            assert pins.level(18) is True and barrier.energised  # nobody switched it off
            killed_at = time.monotonic()

            restarted = Proc("-m", "tests.drivers.gpio.relay_client", str(sock))
            await restarted.start()
            try:
                await restarted.wait_line(lambda x: x == "ready")
                assert pins.level(18) is False and not barrier.energised
                await wait_for(lambda: barrier.closed)
                pulse = barrier.pulses[-1]
                assert pulse.off_mono is not None and pulse.off_mono > killed_at
                print(
                    f"\nrelay left on by the kill for {(pulse.off_mono - killed_at) * 1000:.0f} ms"
                )
                assert [c.level for c in pins.history if c.line == 18] == [True, False]
            finally:
                assert await restarted.kill(signal.SIGTERM) == 0
            assert "stopped" in restarted.lines
        finally:
            await client.kill()
    assert pins.level(18) is False


async def test_write_round_trip_figures(tmp_path: Path) -> None:
    """Figures, not goals: a verified relay write (set + read-back) to the server in another
    process, against a bare protocol ping on a raw socket in the same run, and the longest
    the event loop was held meanwhile."""
    sock = tmp_path / "pins.sock"
    server = Proc("-m", "sim.gpio_server", "--socket", str(sock), "--barrier", "18:19")
    await server.start()
    try:
        await server.wait_line(lambda x: '"ready"' in x)
        r, w = await asyncio.open_unix_connection(str(sock))
        w.write(b'{"op":"hello","v":1}\n')
        await r.readline()
        bare = []
        for i in range(300):
            started = time.perf_counter()
            w.write(b'{"op":"ping","id":%d}\n' % i)
            await r.readline()
            bare.append(time.perf_counter() - started)
        w.close()

        stalls: list[float] = []

        async def watch_loop() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.001)
                stalls.append(time.perf_counter() - started - 0.001)

        relay = GpioDeviceSettings.relay("barrier", 18)
        async with GpioBus(RemoteGpio(sock), [relay], clock=SystemClock()) as bus:
            watcher = asyncio.create_task(watch_loop())
            writes = []
            for i in range(300):
                started = time.perf_counter()
                assert (await bus.write("barrier", "relay", i % 2 == 0)).verified
                writes.append(time.perf_counter() - started)
            watcher.cancel()
        bare.sort()
        writes.sort()
        stalls.sort()
        med_b, med_w = bare[150], writes[150]
        print(
            f"\nverified write via another process: median {med_w * 1e3:.2f} ms, "
            f"p99 {writes[296] * 1e3:.2f} ms; bare ping round trip median {med_b * 1e3:.2f} ms "
            f"(ratio {med_w / med_b:.1f}, a write is two round trips); "
            f"event loop late by p99 {stalls[len(stalls) * 99 // 100] * 1e3:.2f} ms, "
            f"max {stalls[-1] * 1e3:.2f} ms over {len(stalls)} 1 ms sleeps"
        )
        assert len(writes) == 300
    finally:
        await server.kill(signal.SIGTERM)
