"""After a flood on a booking lane the gateway subscribes again, and mosquitto re-sends the
retained snapshot: one dropped with the flood is not lost until the cloud's next one."""

from __future__ import annotations

import asyncio

from sim.cloud import CloudEmulator
from tests.uplink.conftest import UplinkFactory


async def test_a_repeated_subscribe_brings_the_retained_snapshot_again(
    make_uplink: UplinkFactory, cloud: CloudEmulator
) -> None:
    got: list[bytes] = []
    arrived = asyncio.Event()

    async def on_snapshot(payload: bytes) -> None:
        got.append(payload)
        arrived.set()

    await cloud.publish_snapshot(7, [])  # retained, before the gateway connects
    gateway = make_uplink()
    gateway.on_message("bookings", on_snapshot)
    async with gateway as gw:
        await asyncio.wait_for(arrived.wait(), 10)
        assert len(got) == 1  # the retained snapshot, on connect
        arrived.clear()
        gw.link.request_resubscribe()
        await asyncio.wait_for(arrived.wait(), 10)
        assert got == [got[0], got[0]]  # the same retained snapshot, once more
