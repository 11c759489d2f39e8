"""Session behaviour against a real mosquitto: announce, drain, reconnect, Will, rebirth."""

from __future__ import annotations

import asyncio
import time

from edge.uplink import EventBody, PointValue, StateBody
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.uplink.conftest import UplinkFactory
from tests.uplink.proxy import BlackholeProxy

# mosquitto 2.0.11 checks keepalives on a ~5 s tick (measured: k=5 -> 11 s, k=10 -> 17 s),
# so the Will comes within 1.5 x keepalive plus up to one tick.
WILL_SLACK_S = 5.0


async def test_connect_announces_status_birth_then_drains(
    cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """On connect: status online (retained), a full birth, then queued messages."""
    async with make_uplink() as up:
        up.put_nowait(EventBody(kind="operation", message="before connect"))
        await up.connected_event.wait()
        up.put_nowait(EventBody(kind="operation", message="hello"))
        await cloud.wait_for(lambda: len(cloud.received["event"]) == 2)
        await cloud.wait_for(lambda: len(cloud.received["birth"]) == 1)
    # A clean stop says offline itself (no Will after DISCONNECT), same session.
    await cloud.wait_for(lambda: len(cloud.received["status"]) == 2)
    status = cloud.received["status"]
    assert status[1]["online"] is False and status[1]["session"] == status[0]["session"]
    assert status[1]["seq"] == status[0]["seq"] + 1
    assert status[0]["online"] is True
    birth, part = cloud.received["birth"][0], cloud.received["birth_part"][0]
    assert (birth["parts"], part["part"], part["birth_id"]) == (1, 0, birth["birth_id"])
    assert part["devices"][0]["points"][0]["writable"] is True
    assert birth["session"] == status[0]["session"] == cloud.received["event"][0]["session"]
    early, live = cloud.received["event"]
    assert (early["message"], early["historical"]) == ("before connect", True)
    assert (live["message"], live["historical"]) == ("hello", False)
    assert [early["seq"], live["seq"]] == [1, 2]


async def test_session_bumps_on_each_connect_and_messages_resume(
    mosquitto: MosquittoBroker, cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """A broker restart gives a new session; messages produced meanwhile arrive as historical."""
    async with make_uplink() as up:
        await up.connected_event.wait()
        first = up.session
        mosquitto.stop()
        await asyncio.sleep(0.3)
        for i in range(10):
            up.put_nowait(StateBody(points=[PointValue(point="hvac1.temp", value=20 + i)]))
        await up.outbox.flush()
        mosquitto.start()
        await cloud.wait_for(lambda: len(cloud.unique("state")) == 10, within=10)
        assert up.session > first
    states = list(cloud.unique("state").values())
    assert [m["seq"] for m in states] == list(range(1, 11))
    assert all(m["historical"] for m in states)


async def test_unclean_drop_publishes_will_within_one_and_a_half_keepalive(
    mosquitto: MosquittoBroker, cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """When the gateway goes silent (link black-holed), the broker publishes the Will."""
    keepalive = 2
    async with BlackholeProxy(mosquitto.host, mosquitto.port) as proxy:
        up = make_uplink(config={"keepalive": keepalive, "port": proxy.port})
        async with up:
            await up.connected_event.wait()
            session = up.session
            await cloud.wait_for(lambda: len(cloud.received["status"]) == 1)
            proxy.blackhole()
            dropped_at = time.monotonic()
            await cloud.wait_for(
                lambda: any(s["online"] is False for s in cloud.received["status"]), within=10
            )
            elapsed = time.monotonic() - dropped_at
    print(f"Will published {elapsed:.2f} s after the link went silent (keepalive {keepalive} s)")
    offline = next(s for s in cloud.received["status"] if s["online"] is False)
    assert offline["session"] == session
    assert offline["_retained"] is False
    assert elapsed <= 1.5 * keepalive + WILL_SLACK_S


async def test_rebirth_command_gives_full_birth(
    cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """cmd/rebirth is answered ok and a fresh full birth arrives within 5 s."""
    async with make_uplink() as up:
        await up.connected_event.wait()
        await cloud.wait_for(lambda: len(cloud.received["birth"]) == 1)
        started = time.monotonic()
        res = await cloud.command("rebirth")
        await cloud.wait_for(lambda: len(cloud.received["birth"]) == 2, within=5)
        print(f"rebirth in {time.monotonic() - started:.3f} s")
    assert res["ok"] is True and res["code"] == "ok"
    first, second = cloud.received["birth_part"]
    assert second["devices"] == first["devices"] and second["birth_id"] != first["birth_id"]


async def test_garbage_on_every_inbound_topic_keeps_uplink_alive(
    cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """Bad payloads through the broker are answered or logged; the uplink keeps working."""
    seen: list[bytes] = []

    async def bookings(payload: bytes) -> None:
        seen.append(payload)
        raise ValueError("handler bug")  # even a crashing handler must not take the link down

    up = make_uplink()
    up.on_message("bookings", bookings)
    async with up:
        await up.connected_event.wait()
        for payload in (b"", b"\xff\xfe", b"{", b"[]", b'{"cmd_id": 1}', b"x" * 70_000):
            for sub in ("cmd/open_gate", "cmd/nope", "bookings", "cmd/"):
                await cloud.publish(sub, payload)
        await cloud.wait_for(lambda: len(cloud.received["cmd_res"]) >= 18, within=10)
        res = await cloud.command("rebirth")
    codes = {m["code"] for m in cloud.received["cmd_res"]}
    assert {"malformed", "too_large", "unknown_command"} <= codes
    assert res["ok"] is True and len(seen) == 6
