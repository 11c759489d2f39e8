"""Uplink throughput: durable enqueue and drain to mosquitto at QoS 1, next to bare aiomqtt.

    .venv/bin/python bench/uplink.py [N]

Prints messages/s for: a bare aiomqtt QoS 1 publish loop (the baseline, same broker, same
run; also with 20 publishes in flight, the drain's window, as a stricter baseline), durable
enqueue into the SQLite outbox (group commit, synchronous=FULL), and the drain of a pre-filled
outbox to the broker (publish, PUBACK, delete), the drain and the 20-in-flight baseline in
alternating rounds (medians compared). Goal: ratio >= 0.8.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.clock import SystemClock
from edge.config.model import Uplink as UplinkSettings
from edge.storage import Database
from edge.uplink import PointValue, StateBody, Uplink, outbox_config
from edge.uplink.contract import BirthBody
from edge.uplink.outbox import Outbox
from sim.broker import MosquittoBroker

BODY = StateBody(points=[PointValue(point="hvac1.temp", value=21.25, unit="degC")])


async def bare_publish(port: int, n: int, payload: bytes) -> float:
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, identifier="bench-bare"
    ) as client:
        started = time.perf_counter()
        for _ in range(n):
            await client.publish("bench/bare", payload, qos=1)
        return n / (time.perf_counter() - started)


async def bare_publish_windowed(port: int, n: int, payload: bytes, window: int = 20) -> float:
    """The same, with `window` publishes in flight (what the outbox drain does)."""
    async with aiomqtt.Client(
        "127.0.0.1",
        port,
        protocol=aiomqtt.ProtocolVersion.V5,
        identifier="bench-bare-w",
        max_inflight_messages=window,
    ) as client:
        client.pending_calls_threshold = window + 10
        slots = asyncio.Semaphore(window)

        async def one() -> None:
            try:
                await client.publish("bench/bare", payload, qos=1)
            finally:
                slots.release()

        started = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for _ in range(n):
                await slots.acquire()
                tg.create_task(one())
        return n / (time.perf_counter() - started)


async def durable_enqueue(path: Path, n: int) -> float:
    db = Database.open(path)
    try:
        async with Outbox(db, SystemClock()) as box:
            started = time.perf_counter()
            for i in range(n):
                box.put_nowait(BODY)
                if i % 100 == 99:  # producers yield to the loop now and then
                    await asyncio.sleep(0)
            await box.flush()
            return n / (time.perf_counter() - started)
    finally:
        db.close()


class NoInbound:
    """The bench sends nothing down."""

    subscriptions: tuple[str, ...] = ()

    def offer(self, full_topic: str, topic: str, payload: bytes) -> None:
        pass


async def drain(path: Path, port: int, n: int) -> float:
    async def birth() -> BirthBody:
        return BirthBody(zones=[], devices=[])

    db = Database.open(path)
    cfg = UplinkSettings(host="127.0.0.1", port=port)
    clock = SystemClock()
    try:
        async with (
            Outbox(db, clock, outbox_config(cfg)) as outbox,
            Uplink(
                cfg, site="bench", gateway="gw", db=db, clock=clock, outbox=outbox,
                inbound=NoInbound(), birth=birth,
            ) as up,
        ):  # fmt: skip
            assert outbox.depth >= n
            await up.connected_event.wait()
            started = time.perf_counter()
            await outbox.wait_empty()
            return n / (time.perf_counter() - started)
    finally:
        db.close()


ROUNDS = 3


async def main(n: int) -> None:
    """The drain and its 20-in-flight baseline alternate ROUNDS times, each drain next to
    its own baseline, so a neighbour's load hits both alike; the medians are compared."""
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker(workdir=Path(tmp) / "mq") as broker:
        payload_len = len(BODY.points[0].point) + 120
        payload = b"x" * payload_len
        bare1 = await bare_publish(broker.port, n, payload)
        wins, drains, enqs = [], [], []
        for r in range(ROUNDS):
            wins.append(await bare_publish_windowed(broker.port, n, payload))
            enqs.append(await durable_enqueue(Path(tmp) / f"o{r}.db", n))
            drains.append(await drain(Path(tmp) / f"o{r}.db", broker.port, n))
        bare2 = await bare_publish(broker.port, n, payload)
        bare = (bare1 + bare2) / 2
        win, drained, enq = (statistics.median(x) for x in (wins, drains, enqs))
        rounds = ", ".join(f"{d / w:.2f}" for d, w in zip(drains, wins, strict=True))
        print(f"messages: {n}, payload ~{payload_len} B, mosquitto {broker.port}")
        print(
            f"bare aiomqtt QoS 1 publish loop : {bare:8.0f} msg/s  (runs: {bare1:.0f}, {bare2:.0f})"
        )
        print(f"durable enqueue (group commit)  : {enq:8.0f} msg/s  ratio {enq / bare:5.2f}")
        print(
            f"bare aiomqtt QoS 1, 20 in flight: {win:8.0f} msg/s  (median of "
            f"{', '.join(f'{w:.0f}' for w in wins)})"
        )
        print(
            f"outbox drain QoS 1 (PUBACK+del) : {drained:8.0f} msg/s  ratio {drained / bare:5.2f}"
            f" (vs 20-in-flight baseline {drained / win:4.2f}; per round {rounds})"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
