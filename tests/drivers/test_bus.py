"""Bus engine over real sockets and a real socat pty: blocks, priorities, faults, recovery."""

from __future__ import annotations

import asyncio
import itertools
import math
import shutil
import time

import msgspec
import pytest

from drivers.modbus.bus import Bus
from drivers.modbus.errors import PointNotWritable, UnknownPoint, ValueOutOfRange
from drivers.modbus.events import DeviceStatus, PointUpdate, Quality
from drivers.modbus.links import DeviceConfig, RtuLink, RtuOverTcpLink, TcpLink
from drivers.modbus.points import DeviceProfile
from drivers.modbus.profiles import load_profile, resolve
from sim.modbus import SimUnit, serve_rtu_over_tcp, serve_rtu_pty, serve_tcp

from .helpers import Recorder

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")

FAST = {"timeout_s": 0.15, "retries": 0, "probe_min_s": 0.3, "probe_max_s": 0.6}


def dev(name: str, unit: int, profile: DeviceProfile, **kw: object) -> DeviceConfig:
    opts: dict[str, object] = {"poll_interval_s": 0.1, **FAST, **kw}
    return DeviceConfig(name, unit, profile, **opts)  # type: ignore[arg-type]


async def test_block_reads_decode_every_point() -> None:
    """A lighting controller is polled in 4 block reads per cycle and decodes each point."""
    profile = load_profile("lighting_8ch")
    unit = SimUnit(1)
    unit.bank.set_coils(2, [True])
    unit.bank.set_holding(100, [10, 20, 30, 40, 50, 60, 70, 80])
    unit.bank.set_discrete(7, [True])
    unit.bank.set_input(200, [123])
    rec = Recorder()
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("L1", 1, profile)], on_event=rec),
    ):
        await rec.wait_for(lambda: len(rec.updates("L1")) >= 32)
        before = unit.requests
        await asyncio.sleep(0.55)
        cycles_requests = unit.requests - before
    assert rec.last("L1", "ch3_on").value is True  # type: ignore[union-attr]
    assert rec.last("L1", "ch8_dim").value == 80  # type: ignore[union-attr]
    assert rec.last("L1", "ch8_lamp").value is True  # type: ignore[union-attr]
    assert rec.last("L1", "ch1_current").value == 1.23  # type: ignore[union-attr]
    # 4 blocks per cycle, whatever the number of cycles that fitted in the window.
    assert cycles_requests % 4 == 0 and cycles_requests >= 8


async def test_report_by_exception_and_heartbeat() -> None:
    """Unchanged values are not re-emitted until the heartbeat; changes are emitted once."""
    profile = load_profile("env_sensor")
    unit = SimUnit(1)
    unit.bank.set_point(profile.points[0], 21.0)
    rec = Recorder()
    async with (
        serve_tcp(unit) as server,
        Bus(
            TcpLink("127.0.0.1", server.port),
            [dev("E", 1, profile, poll_interval_s=0.05, heartbeat_s=0.6)],
            on_event=rec,
        ),
    ):
        await rec.wait_for(lambda: rec.last("E", "temperature") is not None)
        await asyncio.sleep(0.3)
        assert len(rec.updates("E", "temperature")) == 1
        unit.bank.set_point(profile.points[0], 21.05)  # inside the 0.1 deadband
        await asyncio.sleep(0.2)
        assert len(rec.updates("E", "temperature")) == 1
        unit.bank.set_point(profile.points[0], -4.2)
        await rec.wait_for(lambda: rec.last("E", "temperature").value == -4.2)  # type: ignore[union-attr]
        n = len(rec.updates("E", "temperature"))
        await rec.wait_for(lambda: len(rec.updates("E", "temperature")) > n, within_s=2)


async def test_verified_writes_negative_and_float() -> None:
    """Negative scaled and float writes land as the right registers and are read back."""
    profile = resolve(
        load_profile("hvac_fancoil"),
        {"setpoint": {"min": -20.0}},
    )
    extra = msgspec.convert(
        {
            "name": "offset_f",
            "table": "holding",
            "address": 20,
            "datatype": "float32",
            "word_order": "little",
            "writable": True,
        },
        type(profile.points[0]),
    )
    profile = msgspec.structs.replace(profile, points=(*profile.points, extra))
    unit = SimUnit(4)
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("F", 4, profile)]) as bus,
    ):
        res = await bus.write("F", "setpoint", -12.5)
        assert res.verified and res.value == -12.5 and res.quality is Quality.GOOD
        assert unit.bank.get_holding(1) == [0xFF83]  # -125 as int16
        res = await bus.write("F", "offset_f", -0.375)
        assert res.verified and res.value == -0.375
        assert unit.bank.get_holding(20, 2) == [0x0000, 0xBEC0]  # CDAB order
        res = await bus.write("F", "offset_f", math.nan)
        assert isinstance(res.value, float) and math.isnan(res.value) and res.verified
        res = await bus.write("F", "mode", "cool")
        assert res.value == "cool" and unit.bank.get_holding(0) == [2]
        res = await bus.write("F", "on", True)
        assert res.value is True and unit.bank.get_coils(0) == [True]


async def test_readback_from_other_address_reports_device_state() -> None:
    """When the device clamps a setpoint, the result is the read-back, not what was asked."""
    base = load_profile("hvac_fancoil")
    profile = resolve(base, {"setpoint": {"readback": {"table": "input", "address": 30}}})
    unit = SimUnit(1)

    def clamp(table: str, address: int, values: list[int] | list[bool]) -> None:
        if table == "holding" and address == 1:
            unit.bank.set_input(30, [min(int(values[0]), 260)])  # device max 26.0 C

    unit.bank.on_write(clamp)
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("F", 1, profile)]) as bus,
    ):
        ok = await bus.write("F", "setpoint", 21.5)
        assert ok.verified and ok.value == 21.5
        clamped = await bus.write("F", "setpoint", 30.0)
        assert not clamped.verified and clamped.value == 26.0
        assert clamped.quality is Quality.UNCERTAIN


async def test_bad_writes_are_refused_before_sending() -> None:
    """Out-of-range, unknown and read-only writes raise and send nothing."""
    profile = load_profile("hvac_fancoil")
    unit = SimUnit(1)
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("F", 1, profile, poll_interval_s=60)]) as bus,
    ):
        await bus.wait_connected(2)
        await asyncio.sleep(0.1)
        sent = unit.requests
        with pytest.raises(ValueOutOfRange, match="setpoint"):
            await bus.write("F", "setpoint", 99.0)
        with pytest.raises(PointNotWritable):
            await bus.write("F", "room_temp", 20.0)
        with pytest.raises(UnknownPoint):
            await bus.write("F", "nope", 1)
        with pytest.raises(UnknownPoint):
            await bus.write("G", "setpoint", 20.0)
        assert unit.requests == sent


async def test_register_bit_write_is_read_modify_write() -> None:
    """Writing a bool bit of a holding register keeps the register's other bits."""
    profile = msgspec.convert(
        {
            "name": "bits",
            "points": [
                {
                    "name": "b3",
                    "table": "holding",
                    "address": 5,
                    "datatype": "bool",
                    "bit": 3,
                    "writable": True,
                },
            ],
        },
        DeviceProfile,
    )
    unit = SimUnit(1)
    unit.bank.set_holding(5, [0b1000_0001])
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("B", 1, profile)]) as bus,
    ):
        res = await bus.write("B", "b3", True)
        assert res.value is True and unit.bank.get_holding(5) == [0b1000_1001]
        await bus.write("B", "b3", False)
        assert unit.bank.get_holding(5) == [0b1000_0001]


async def test_faults_show_in_quality_and_status() -> None:
    """Exception reply -> uncertain; garbage or too slow -> comm_fail; healed -> good."""
    profile = load_profile("env_sensor")
    unit = SimUnit(1)
    rec = Recorder()
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("E", 1, profile)], on_event=rec),
    ):
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)
        unit.exception_code = 4
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.UNCERTAIN)
        unit.heal()
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)
        unit.garbage = True
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.COMM_FAIL)
        assert rec.statuses("E")[-1].online is False
        unit.heal()
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)
        assert rec.statuses("E")[-1].online is True
        unit.slow_s = 0.3  # timeout is 0.15
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.COMM_FAIL)
        unit.slow_s = 0.05  # slow but inside the timeout
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)
    # Status transitions were events, each reported once per change.
    flips = [s.online for s in rec.statuses("E")]
    assert all(a != b for a, b in itertools.pairwise(flips))


async def test_stale_when_not_refreshed() -> None:
    """A good value not refreshed within stale_after_s turns stale, and good on the next read."""
    profile = load_profile("fire_panel")
    unit = SimUnit(1)
    rec = Recorder()
    async with (
        serve_tcp(unit) as server,
        Bus(
            TcpLink("127.0.0.1", server.port),
            [dev("P", 1, profile, poll_interval_s=1.5, stale_after_s=0.4)],
            on_event=rec,
        ),
    ):
        await rec.wait_for(lambda: rec.quality("P", "alarm") is Quality.GOOD)
        await rec.wait_for(lambda: rec.quality("P", "alarm") is Quality.STALE, within_s=2)
        await rec.wait_for(lambda: rec.quality("P", "alarm") is Quality.GOOD, within_s=3)


async def test_heartbeat_register_is_written() -> None:
    """A profile's device watchdog register receives an incrementing counter."""
    base = load_profile("hvac_fancoil")
    profile = msgspec.structs.replace(
        base, heartbeat=msgspec.structs.replace(base.heartbeat, period_s=0.1)
    )
    unit = SimUnit(1)
    seen: list[int] = []
    unit.bank.on_write(
        lambda t, a, v: seen.append(int(v[0])) if (t, a) == ("holding", 50) else None
    )
    async with (
        serve_tcp(unit) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("F", 1, profile)]),
    ):
        await Recorder().wait_for(lambda: len(seen) >= 3, within_s=3)
    assert seen[:3] == [1, 2, 3]


async def test_tcp_server_killed_and_restarted_under_load() -> None:
    """Polling resumes by itself soon after the server is back (measured, bound 5 s)."""
    profile = load_profile("env_sensor")
    units = [SimUnit(i) for i in (1, 2, 3)]
    rec = Recorder()
    async with serve_tcp(units) as server:
        devices = [dev(f"E{u.unit_id}", u.unit_id, profile, poll_interval_s=0.05) for u in units]
        async with Bus(TcpLink("127.0.0.1", server.port), devices, on_event=rec) as bus:
            await rec.wait_for(lambda: all(rec.quality(d.name, "co2") for d in devices))
            await server.drop_link()
            await rec.wait_for(lambda: rec.quality("E1", "co2") is Quality.COMM_FAIL)
            await asyncio.sleep(1.0)
            mark = len(rec.events)
            await server.restart()
            back = time.monotonic()
            await rec.wait_for(
                lambda: all(
                    any(
                        isinstance(e, DeviceStatus) and e.online and e.device == d.name
                        for e in rec.events[mark:]
                    )
                    for d in devices
                ),
                within_s=10,
            )
            resumed = time.monotonic() - back
            print(f"TCP polling resumed {resumed:.3f} s after the server came back")
            assert resumed < 5.0
            assert bus.stats.reconnects >= 1
            assert all(rec.quality(d.name, "co2") is Quality.GOOD for d in devices)


@needs_socat
async def test_rtu_pty_killed_and_recreated() -> None:
    """The serial port vanishing and reappearing at the same path: polling resumes by itself."""
    profile = load_profile("env_sensor")
    unit = SimUnit(1)
    rec = Recorder()
    async with serve_rtu_pty(unit, wire_time=False) as server:
        link = RtuLink(server.client_port, reconnect_max_s=0.5)
        async with Bus(link, [dev("E", 1, profile)], on_event=rec):
            await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)
            await server.drop_link()
            await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.COMM_FAIL)
            await asyncio.sleep(0.5)
            await server.restart()
            back = time.monotonic()
            await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD, within_s=10)
            resumed = time.monotonic() - back
            print(f"RTU polling resumed {resumed:.3f} s after the pty came back")
            assert resumed < 5.0


@needs_socat
async def test_dead_unit_isolated_on_shared_rtu_bus() -> None:
    """One dead unit on an RS-485 bus: the healthy ones keep most of their poll rate."""
    profile = load_profile("env_sensor")
    units = [SimUnit(i) for i in (1, 2, 3)]
    async with serve_rtu_pty(units, baudrate=115200, wire_time=True) as server:
        devices = [dev(f"E{u.unit_id}", u.unit_id, profile, poll_interval_s=0.1) for u in units]
        async with Bus(RtuLink(server.client_port, baudrate=115200), devices) as bus:
            await bus.wait_connected(3)
            await asyncio.sleep(0.3)
            units[0].offline = True
            await asyncio.sleep(0.3)
            start = [u.requests for u in units]
            await asyncio.sleep(2.0)
            got = [u.requests - s for u, s in zip(units, start, strict=True)]
            assert bus.device_online("E1") is False
            assert bus.device_online("E2") and bus.device_online("E3")
    print(f"requests in 2 s: dead={got[0]} healthy={got[1:]}")
    # Nominal 20 cycles of 1 block each in 2 s; the dead unit is only probed now and then.
    assert got[1] >= 14 and got[2] >= 14
    assert got[0] <= 5


@needs_socat
async def test_writes_jump_ahead_of_queued_polls() -> None:
    """A write waits for at most the transaction in flight, not for the queued poll cycle."""
    profile = load_profile("lighting_8ch")
    units = [SimUnit(i) for i in range(1, 9)]
    order: list[str] = []
    for u in units:
        u.bank.on_write(lambda t, a, v: order.append("write") if t == "coil" else None)
    async with serve_rtu_pty(units, baudrate=19200, wire_time=True) as server:
        devices = [
            dev(f"L{u.unit_id}", u.unit_id, profile, poll_interval_s=0.0, timeout_s=0.5)
            for u in units
        ]
        async with Bus(RtuLink(server.client_port), devices) as bus:
            await bus.wait_connected(3)
            await asyncio.sleep(0.5)  # 8 devices x 4 blocks queued: a cycle is ~0.6 s
            before = sum(u.requests for u in units)
            res = await bus.write("L5", "ch1_on", True)
            polls_in_between = sum(u.requests for u in units) - before - 2  # write + read-back
            assert res.verified
    print(f"transactions run between write request and its completion: {polls_in_between}")
    assert polls_in_between <= 2
    assert order == ["write"]


async def test_rtu_over_tcp_gateway_bus() -> None:
    """An RTU-over-TCP gateway link polls and writes units behind it."""
    profile = load_profile("gate_controller")
    units = [SimUnit(1), SimUnit(2)]
    pulses: list[int] = []
    units[1].bank.on_write(lambda t, a, v: pulses.append(a) if t == "coil" else None)
    rec = Recorder()
    async with serve_rtu_over_tcp(units) as server:
        devices = [dev("G1", 1, profile), dev("G2", 2, profile)]
        async with Bus(RtuOverTcpLink("127.0.0.1", server.port), devices, on_event=rec) as bus:
            await rec.wait_for(lambda: rec.quality("G2", "door_open") is Quality.GOOD)
            res = await bus.write("G2", "relay", True)
            assert res.quality is Quality.UNCERTAIN and not res.verified  # verify = false
            pulse = await bus.write("G2", "pulse_s", 3.5)
            assert pulse.verified and units[1].bank.get_holding(10) == [35]
    assert pulses == [0]


@needs_socat
async def test_late_and_wrong_id_replies_on_rtu_bus() -> None:
    """A unit answering after its timeout, or with another unit id, is comm_fail and never
    taken for another request's answer; its healthy neighbour stays good throughout."""
    profile = load_profile("env_sensor")
    slow, liar, good = SimUnit(1), SimUnit(2), SimUnit(3)
    slow.slow_s = 0.2  # timeout 0.15: the reply comes 50 ms late
    liar.answer_as = 3
    good.bank.set_input(2, [415])
    rec = Recorder()
    async with serve_rtu_pty([slow, liar, good], wire_time=False) as server:
        devices = [dev(f"E{i}", i, profile, probe_min_s=0.5, probe_max_s=0.5) for i in (1, 2, 3)]
        async with Bus(RtuLink(server.client_port), devices, on_event=rec) as bus:
            await rec.wait_for(lambda: rec.quality("E3", "co2") is Quality.GOOD)
            await asyncio.sleep(2.0)
            assert bus.device_online("E1") is False and bus.device_online("E2") is False
    assert [s.online for s in rec.statuses("E1")] == [False]
    assert [s.online for s in rec.statuses("E2")] == [False]
    assert [s.online for s in rec.statuses("E3")] == [True]
    assert {u.value for u in rec.updates("E3", "co2")} == {415}
    assert rec.quality("E1", "co2") is Quality.COMM_FAIL


async def test_tcp_concurrency_uses_several_connections() -> None:
    """A TCP link with concurrency=3 polls over three connections and stays correct."""
    profile = load_profile("env_sensor")
    units = [SimUnit(i) for i in range(1, 7)]
    for u in units:
        u.bank.set_input(2, [400 + u.unit_id])
    peers: set[tuple[str, int]] = set()
    rec = Recorder()
    async with serve_tcp(units) as server:
        devices = [dev(f"E{u.unit_id}", u.unit_id, profile) for u in units]
        link = TcpLink("127.0.0.1", server.port, concurrency=3)
        async with Bus(link, devices, on_event=rec) as bus:
            await rec.wait_for(lambda: all(rec.quality(d.name, "co2") for d in devices))
            for ch in bus._channels:
                sock = ch.client.ctx.transport.get_extra_info("sockname")
                peers.add(sock)
    assert len(peers) == 3
    for u in units:
        assert rec.last(f"E{u.unit_id}", "co2").value == 400 + u.unit_id  # type: ignore[union-attr]


async def test_timestamps_come_from_the_injected_clock() -> None:
    """Point updates, status events and write results carry the injected clock's wall time."""
    from datetime import UTC, datetime

    from drivers.clock import SystemClock

    fixed = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    class FrozenWall(SystemClock):
        def now(self) -> datetime:
            return fixed

    profile = load_profile("hvac_fancoil")
    rec = Recorder()
    async with (
        serve_tcp(SimUnit(1)) as server,
        Bus(
            TcpLink("127.0.0.1", server.port),
            [dev("F", 1, profile)],
            clock=FrozenWall(),
            on_event=rec,
        ) as bus,
    ):
        await rec.wait_for(lambda: rec.quality("F", "room_temp") is Quality.GOOD)
        result = await bus.write("F", "setpoint", 19.0)
    assert result.ts == fixed
    assert rec.events and all(e.ts == fixed for e in rec.events)


async def test_event_queue_without_callback_drops_oldest_when_full() -> None:
    """Without on_event, events go to bus.events; an unread full queue drops the oldest."""
    profile = load_profile("lighting_8ch")  # 32 polled points + a status event
    async with (
        serve_tcp(SimUnit(1)) as server,
        Bus(TcpLink("127.0.0.1", server.port), [dev("L", 1, profile)], event_queue_size=10) as bus,
    ):
        await Recorder().wait_for(lambda: bus.stats.events_dropped >= 23)
        first = bus.events.get_nowait()
        assert bus.events.qsize() == 9
        assert isinstance(first, PointUpdate) and first.device == "L"


async def test_link_reopened_when_nobody_answers() -> None:
    """When no unit answers at all (a hung gateway), the link is reopened by itself."""
    profile = load_profile("env_sensor")
    unit = SimUnit(1)
    rec = Recorder()
    async with (
        serve_tcp(unit) as server,
        Bus(
            TcpLink("127.0.0.1", server.port),
            [dev("E", 1, profile, probe_min_s=0.05, probe_max_s=0.05)],
            on_event=rec,
        ) as bus,
    ):
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)
        unit.offline = True
        await rec.wait_for(lambda: bus.stats.reconnects >= 1, within_s=10)
        unit.offline = False
        await rec.wait_for(lambda: rec.quality("E", "co2") is Quality.GOOD)


async def test_a_connection_goes_to_the_waiting_worker_before_any_direct_poll() -> None:
    """A direct poll holds the connection; the worker waiting for it gets it next, still
    held (no poll slips in between); a cancelled wait leaves it free."""
    from drivers.modbus.channel import Channel
    from drivers.modbus.events import BusStats

    ch = Channel(TcpLink("127.0.0.1", 1), BusStats(), "t")
    assert ch.free
    ch.take_now()  # a direct poll
    worker = asyncio.create_task(ch.take())
    await asyncio.sleep(0)
    assert not worker.done() and not ch.free
    ch.give_back()  # the poll is done: handed over
    assert not ch.free
    await worker
    ch.give_back()
    assert ch.free
    ch.take_now()
    waiting = asyncio.create_task(ch.take())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    ch.give_back()
    assert ch.free
    ch.close()
