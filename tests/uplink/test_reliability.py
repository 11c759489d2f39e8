"""Reliability against a real mosquitto: outages, kill -9, priority under backlog."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.clock import SimClock
from edge.uplink import AlarmBody, EventBody, PointValue, StateBody
from edge.uplink.outbox import Enqueued
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.uplink.conftest import GW, SITE, UplinkFactory

T0 = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def ticking(clock: SimClock, step: float = 1.0, every: float = 0.01) -> AsyncIterator[None]:
    """Let simulated time run (step s per `every` real s) while the test waits on the network."""

    async def tick() -> None:
        while True:
            await clock.advance(step)
            await asyncio.sleep(every)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def assert_contiguous_and_complete(cloud: CloudEmulator, stream: str, sent: list[Enqueued]) -> None:
    by_id = cloud.unique(stream)
    missing = {e.msg_id for e in sent} - set(by_id)
    assert not missing, f"{len(missing)} {stream} messages missing"
    seqs = sorted(m["seq"] for m in by_id.values())
    assert seqs == list(range(1, len(seqs) + 1)), f"{stream} seq not contiguous"
    # Duplicates only as the same msg_id with the same content (same seq, same source ts).
    seen: dict[str, tuple[int, str]] = {}
    for m in cloud.received[stream]:
        key = (m["seq"], m["ts"])
        assert seen.setdefault(m["msg_id"], key) == key


@pytest.mark.parametrize(
    "minutes", [pytest.param(1, id="1min"), pytest.param(10, id="10min", marks=pytest.mark.slow)]
)
async def test_broker_down_for_minutes_loses_nothing(
    minutes: int,
    mosquitto: MosquittoBroker,
    cloud: CloudEmulator,
    make_uplink: UplinkFactory,
) -> None:
    """Broker down while 100 state/s and 500 events per 10 min are produced: all arrive."""
    clock = SimClock(T0)
    sent_state: list[Enqueued] = []
    sent_event: list[Enqueued] = []
    events_total = 500 * minutes // 10
    up = make_uplink(clock=clock, config={"backoff_cap_s": 60.0, "backoff_initial_s": 1.0})
    async with up:
        async with ticking(clock):
            await up.connected_event.wait()
        mosquitto.stop()
        # Produce only once the uplink has seen the link go: on a loaded machine it could
        # otherwise still deliver the first messages to a broker that is shutting down.
        for _ in range(1000):
            if not up.connected_event.is_set():
                break
            await asyncio.sleep(0.01)
        seconds = 60 * minutes
        for second in range(seconds):
            for i in range(100):
                body = StateBody(points=[PointValue(point="hvac1.temp", value=second * 100 + i)])
                sent_state.append(up.put_nowait(body))
            if second * events_total // seconds != (second + 1) * events_total // seconds:
                sent_event.append(up.put_nowait(EventBody(kind="operation", data={"s": second})))
            await clock.advance(1.0)
            if second % 10 == 0:
                await up.outbox.flush()
        await up.outbox.flush()
        # While the broker goes down on a loaded machine it may still acknowledge (PUBACK)
        # the first messages; those are the broker's to deliver after its restart (it
        # persists them). Everything else waits in the outbox. The assertions after the
        # restart check that every message produced arrives.
        assert up.outbox.depth > 0
        mosquitto.start()
        started = time.monotonic()
        async with ticking(clock, step=1.0, every=0.02):
            await cloud.wait_for(
                lambda: (
                    len(cloud.unique("state")) >= len(sent_state)
                    and len(cloud.unique("event")) >= len(sent_event)
                ),
                within=120,
            )
        elapsed = time.monotonic() - started
    print(
        f"{len(sent_state)} state + {len(sent_event)} events delivered {elapsed:.1f} s after the "
        f"broker came back ({(len(sent_state) + len(sent_event)) / elapsed:.0f} msg/s)"
    )
    assert_contiguous_and_complete(cloud, "state", sent_state)
    assert_contiguous_and_complete(cloud, "event", sent_event)
    assert all(m["historical"] for m in cloud.received["state"])
    assert sent_event and len(sent_event) == events_total


async def test_alarm_overtakes_100k_queued_state(
    mosquitto: MosquittoBroker, cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """An alarm raised behind 100,000 queued state messages arrives within 5 s of reconnect."""
    async with make_uplink() as up:
        await up.connected_event.wait()
        mosquitto.stop()
        for i in range(100_000):
            up.put_nowait(StateBody(points=[PointValue(point="hvac1.temp", value=i)]))
            if i % 5000 == 0:
                await asyncio.sleep(0)
        await up.outbox.flush()
        alarm = await up.put(AlarmBody(alarm_id="fire:hall", action="raise", severity="critical"))
        assert up.outbox.depth == 100_001
        mosquitto.start()
        await up.connected_event.wait()
        reconnected = time.monotonic()
        await cloud.wait_for(lambda: alarm.msg_id in cloud.unique("alarm"), within=5)
        latency = time.monotonic() - reconnected
        state_before = len(cloud.received["state"])
    print(f"alarm delivered {latency:.3f} s after reconnect, behind {state_before} state messages")
    assert latency < 5.0


PUBLISHER = f"""
import asyncio, sys
from pathlib import Path
from edge.clock import SystemClock
from edge.storage import Database
from edge.config.model import Uplink as UplinkSettings
from edge.uplink import EventBody
from edge.uplink.contract import BirthBody
from tests.uplink.gateway import Gateway

async def birth():
    return BirthBody(zones=[], devices=[])

async def main(path, port, count, drain):
    db = Database.open(Path(path))
    cfg = UplinkSettings(host="127.0.0.1", port=port, backoff_initial_s=0.1, backoff_cap_s=0.5)
    ids = dict(site={SITE!r}, gateway={GW!r})
    async with Gateway(cfg, **ids, db=db, clock=SystemClock(), birth=birth) as up:
        sent = 0
        while sent < count:
            n = min(50, count - sent)
            chunk = [up.put(EventBody(kind="operation", data={{"n": sent + i}})) for i in range(n)]
            for enq in await asyncio.gather(*chunk):
                sys.stdout.write(enq.msg_id + "\\n")
            sys.stdout.flush()
            sent += len(chunk)
        if drain:
            await up.outbox.wait_empty()
            print("DRAINED", flush=True)
    db.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"))
"""


def msg_ids(out: bytes) -> set[str]:
    """The committed msg_ids a publisher printed (its log lines share stdout)."""
    return set(re.findall(r"^[0-9a-f]{32}$", out.decode(errors="replace"), re.MULTILINE))


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


async def test_kill_9_during_10000_publishes_loses_no_committed_message(
    tmp_path: Path, mosquitto: MosquittoBroker, cloud: CloudEmulator
) -> None:
    """kill -9 at random points: every message reported committed is delivered afterwards."""
    rng = random.Random(5)
    total, committed = 10_000, set()
    path = tmp_path / "gw.db"
    script = tmp_path / "publisher.py"
    script.write_text(PUBLISHER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = 0
    while True:
        remaining = total - len(committed)
        last = kills >= 3 or remaining <= 0
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            str(path),
            str(mosquitto.port),
            str(max(remaining, 0)),
            "1" if last else "0",
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )
        assert proc.stdout is not None
        if last:
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            assert "DRAINED" in out.decode().split()
            committed.update(msg_ids(out))
            break
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        if proc.returncode is None:
            proc.kill()  # SIGKILL: no cleanup of any kind
            kills += 1
        out, _ = await proc.communicate()
        committed.update(msg_ids(out))
        assert integrity(path) == "ok"
    assert integrity(path) == "ok"
    try:
        await cloud.wait_for(lambda: committed <= set(cloud.unique("event")), within=30)
    finally:
        received = cloud.unique("event")
        missing = committed - set(received)
        print(f"missing {len(missing)} of {len(committed)}; got {len(received)}")
    print(f"{kills} kills; {len(committed)} committed, {len(received)} distinct delivered")
    assert len(committed) >= total
    seqs = sorted(m["seq"] for m in received.values())
    assert len(seqs) == len(set(seqs))  # a seq is never given to two messages
