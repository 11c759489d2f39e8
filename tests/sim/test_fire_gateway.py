"""The 2,499-device fire panel gateway, served by the simulator and read by the real bus.

The simulated venue serves the panel on a Modbus TCP socket; the driver's `Bus` polls
it with the shipped `fire_gateway` profile. Faults from the simulator's catalogue put
one device into alarm or fault and one loop into fault, and the driver reports each
within one poll cycle, as a status-table change plus panel points and counts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio

from drivers.modbus.bus import Bus
from drivers.modbus.errors import CodecError
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.offline import read_point
from drivers.modbus.planner import plan_profile
from drivers.modbus.profiles import load_profile
from drivers.modbus.status import EntryChange, EntryState, changes, counts, entries_in
from edge.clock import SimClock
from sim.errors import FaultError
from sim.venue import SimVenue
from tests.drivers.helpers import Recorder

PANEL = """
[site]
id = "fire-test"
gateway = "gw"
timezone = "Asia/Shanghai"

[[buses]]
kind = "modbus_tcp"
id = "fire-bus"
host = "10.0.0.30"

[[devices]]
id = "fire-gw"
profile = "fire_gateway"
bus = "fire-bus"
unit_id = 1
name = "Fire alarm panel gateway"
"""

POLL_S = 0.3
BLOCKS = len(plan_profile(load_profile("fire_gateway")))


@pytest_asyncio.fixture
async def panel(tmp_path: Path, clock: SimClock) -> AsyncIterator[SimVenue]:
    path = tmp_path / "panel.toml"
    path.write_text(PANEL)
    async with SimVenue.from_config(path, clock) as venue:
        yield venue


def latest(rec: Recorder, point: str) -> object:
    last = rec.last("fire-gw", point)
    return None if last is None else last.value


async def wait_value(rec: Recorder, point: str, want: object, within_s: float = 10.0) -> None:
    await rec.wait_for(lambda: latest(rec, point) == want, within_s)


async def test_device_alarm_device_fault_and_loop_fault_each_within_one_poll(
    panel: SimVenue,
) -> None:
    """One of 2,499 devices in alarm, another in fault, a loop fault: each shows in one cycle."""
    endpoint = panel.endpoint("fire-gw")
    unit = panel.units["fire-gw"]
    rec = Recorder()
    device = DeviceConfig(
        "fire-gw", endpoint["unit_id"], load_profile("fire_gateway"), poll_interval_s=POLL_S
    )
    link = TcpLink(endpoint["host"], endpoint["port"])
    async with Bus(link, [device], on_event=rec):
        await wait_value(rec, "devices_normal", 2499)
        table = latest(rec, "devices")
        assert isinstance(table, str)
        assert counts(table).installed == 2499 and counts(table).absent == 1
        assert table.endswith(".-")  # loop 10, address 250: the one empty address
        assert (latest(rec, "alarm"), latest(rec, "fault"), latest(rec, "devices_alarm")) == (
            False,
            False,
            0,
        )

        async def inject(kind: str, **params: int) -> tuple[int, float]:
            before = unit.requests
            start = time.monotonic()
            await panel.fault(kind, "fire-gw", **params)
            return before, start

        # (1) loop 3, device 17 reports fire.
        before, start = await inject("fire_device_alarm", loop=3, device=17)
        await wait_value(rec, "alarm", True)
        requests = unit.requests - before
        print(f"\ndevice alarm seen after {requests} requests ({BLOCKS} per cycle), "
              f"{time.monotonic() - start:.3f} s (poll {POLL_S} s)")  # fmt: skip
        assert requests <= 2 * BLOCKS  # the cycle under way, then at most one whole cycle
        await wait_value(rec, "devices_alarm", 1)
        new_table = latest(rec, "devices")
        assert isinstance(new_table, str)
        assert changes(table, new_table) == [
            EntryChange(3, 17, EntryState.NORMAL, EntryState.ALARM)
        ]
        assert entries_in(new_table, EntryState.ALARM) == [(3, 17)]
        assert latest(rec, "devices_normal") == 2498

        # (2) loop 5, device 250 in fault.
        before, _ = await inject("fire_device_fault", loop=5, device=250)
        await wait_value(rec, "devices_fault", 1)
        await wait_value(rec, "fault", True)  # the panel's summary bit: another block
        assert unit.requests - before <= 2 * BLOCKS
        faulted = latest(rec, "devices")
        assert isinstance(faulted, str)
        assert entries_in(faulted, EntryState.FAULT) == [(5, 250)]
        assert latest(rec, "fault") is True

        # (3) loop 7 in fault (open circuit): its own point, the panel fault stays on.
        before, _ = await inject("fire_loop_fault", loop=7)
        await wait_value(rec, "loop7_fault", True)
        assert unit.requests - before <= 2 * BLOCKS
        assert [latest(rec, f"loop{n}_fault") for n in (6, 8)] == [False, False]

        # Clear them all: the panel is back to normal, counts too.
        await panel.fault("fire_device_alarm", "fire-gw", loop=3, device=17, on=False)
        await wait_value(rec, "alarm", False)
        await panel.fault("heal", "fire-gw")
        await wait_value(rec, "devices_normal", 2499)
        await wait_value(rec, "fault", False)
        assert latest(rec, "loop7_fault") is False
        assert latest(rec, "devices") == table


async def test_the_panel_is_twenty_points_not_2500(panel: SimVenue) -> None:
    """The whole panel fits in a few KB: one table value and counts, not a point per device."""
    endpoint = panel.endpoint("fire-gw")
    rec = Recorder()
    device = DeviceConfig(
        "fire-gw", endpoint["unit_id"], load_profile("fire_gateway"), poll_interval_s=POLL_S
    )
    async with Bus(TcpLink(endpoint["host"], endpoint["port"]), [device], on_event=rec) as bus:
        await wait_value(rec, "devices_normal", 2499)
        snapshot = bus.snapshot()
        names = {u.point for u in snapshot}
        assert len(names) == 19
        size = len(msgspec.json.encode(snapshot))
        print(f"\nfire panel snapshot: {len(names)} points, {size} bytes as JSON")
        assert size < 8_000
        # On demand, as `edgectl` would read it: all 20 segments, then the value.
        update = await bus.read("fire-gw", "devices_disabled")
        assert update.value == 0
        await panel.fault("fire_device_disabled", "fire-gw", loop=1, device=1)
        assert (await bus.read("fire-gw", "devices_disabled")).value == 1
        assert str((await bus.read("fire-gw", "devices")).value).startswith("D.")


async def test_offline_read_of_a_count_reads_its_table(panel: SimVenue) -> None:
    """`edgectl modbus read` of a count: with the profile it reads the table and counts."""
    endpoint = panel.endpoint("fire-gw")
    link = TcpLink(endpoint["host"], endpoint["port"])
    profile = load_profile("fire_gateway")
    count = profile.point("devices_normal")
    assert count is not None
    await panel.fault("fire_device_fault", "fire-gw", loop=2, device=2)
    update = await read_point(link, endpoint["unit_id"], count, profile=profile)
    assert update.value == 2498
    with pytest.raises(CodecError, match="pass the profile"):
        await read_point(link, endpoint["unit_id"], count)


async def test_fire_faults_check_the_address(panel: SimVenue) -> None:
    """A loop or address that does not exist, or holds no device, is refused by name."""
    with pytest.raises(FaultError, match="not a loop"):
        await panel.fault("fire_device_alarm", "fire-gw", loop=11, device=1)
    with pytest.raises(FaultError, match="not an address"):
        await panel.fault("fire_device_alarm", "fire-gw", loop=1, device=251)
    with pytest.raises(FaultError, match="no device is installed"):
        await panel.fault("fire_device_fault", "fire-gw", loop=10, device=250)
    with pytest.raises(FaultError, match="needs device="):
        await panel.fault("fire_device_alarm", "fire-gw", loop=1)
    truth = panel.world.devices["fire-gw"].truth()
    assert truth["installed"] == 2499 and truth["alarm"] == []
    assert await panel.fault("fire_alarm", "fire-gw") == "fire-gw: alarm on"
    assert panel.world.devices["fire-gw"].truth()["panel"] == {
        "alarm": True,
        "fault": False,
        "silenced": False,
    }
