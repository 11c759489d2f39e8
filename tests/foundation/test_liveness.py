"""WATCHDOG=1 is only sent while the loop and the critical tasks are alive."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from edge.clock import SystemClock
from edge.liveness import Liveness, run_watchdog
from edge.notify import Notifier, watchdog_interval
from tests.foundation.notify_socket import NotifySocket


def gaps(messages: list[tuple[float, str]]) -> list[float]:
    times = [t for t, m in messages if m == "WATCHDOG=1"]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_blocked_loop_stops_pings(tmp_path: Path) -> None:
    """A blocked event loop sends no pings for as long as it is blocked, then pings resume."""
    sink = NotifySocket(tmp_path / "n.sock")
    notifier = Notifier(str(sink.path))
    task = asyncio.create_task(run_watchdog(notifier, Liveness(SystemClock()), 0.05))
    await asyncio.sleep(0.3)
    time.sleep(1.0)  # noqa: ASYNC251 - the deliberate block: nothing on the loop can run
    await asyncio.sleep(0.4)
    task.cancel()
    sink.drain()
    g = gaps(sink.messages)
    assert max(g) >= 0.95
    assert sum(1 for x in g if x < 0.2) >= 6  # regular pings before and after
    sink.close()
    notifier.close()


async def test_stalled_critical_task_stops_pings(tmp_path: Path) -> None:
    """A critical task that stops beating withholds the pings until it beats again."""
    sink = NotifySocket(tmp_path / "n.sock")
    notifier = Notifier(str(sink.path))
    live = Liveness(SystemClock())
    live.register("poll:bus-1", allowance_s=0.2)

    async def beating(until: float) -> None:
        while time.monotonic() < until:
            live.beat("poll:bus-1")
            await asyncio.sleep(0.02)

    task = asyncio.create_task(run_watchdog(notifier, live, 0.05))
    await beating(time.monotonic() + 0.4)
    sink.drain()
    before = len([m for _, m in sink.messages if m == "WATCHDOG=1"])
    stalled_from = time.monotonic()
    await asyncio.sleep(0.8)  # the poll loop "hangs"
    sink.drain()
    during = [t for t, m in sink.messages if m == "WATCHDOG=1" and t > stalled_from + 0.3]
    await beating(time.monotonic() + 0.3)
    task.cancel()
    sink.drain()
    after = [t for t, m in sink.messages if m == "WATCHDOG=1" and t > stalled_from + 0.8]
    assert before >= 4
    assert during == []
    assert len(after) >= 2
    sink.close()
    notifier.close()


def test_no_notify_socket_is_a_no_op() -> None:
    """Without NOTIFY_SOCKET every call returns False and nothing fails."""
    n = Notifier("")
    assert not n.enabled
    assert n.ready("x") is False and n.watchdog() is False and n.stopping() is False


def test_watchdog_interval_from_env() -> None:
    """Half of WATCHDOG_USEC; None when not supervised or meant for another pid."""
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None


def test_abstract_socket_address(tmp_path: Path) -> None:
    """An '@' address goes to the abstract namespace."""
    import socket

    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind("\0edged-test-abstract")
    n = Notifier("@edged-test-abstract")
    assert n.ready("ok")
    assert rx.recv(100) == b"READY=1\nSTATUS=ok"
    rx.close()
    n.close()
