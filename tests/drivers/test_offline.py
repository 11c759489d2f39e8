"""Offline technician functions (edgectl modbus read|write|scan) against simulated units."""

from __future__ import annotations

import shutil

import pytest

from drivers.modbus.errors import TransactionFailed, ValueOutOfRange
from drivers.modbus.links import RtuLink, TcpLink
from drivers.modbus.offline import ScanHit, read_point, read_raw, scan, write_point
from drivers.modbus.profiles import load_profile
from sim.modbus import RegisterBank, SimUnit, serve_rtu_pty, serve_tcp


async def test_read_raw_and_points() -> None:
    """Raw registers/bits and decoded profile points are read as the bus would."""
    profile = load_profile("hvac_fancoil")
    unit = SimUnit(3)
    unit.bank.set_input(0, [0xFFE2])  # room_temp -3.0 C
    unit.bank.set_coils(0, [True])
    async with serve_tcp(unit) as server:
        link = TcpLink("127.0.0.1", server.port)
        assert await read_raw(link, 3, "input", 0, 2) == [0xFFE2, 0]
        assert await read_raw(link, 3, "coil", 0, 1) == [True]
        room = profile.point("room_temp")
        assert room is not None
        update = await read_point(link, 3, room)
        assert update.value == -3.0
        with pytest.raises(TransactionFailed) as info:
            await read_raw(link, 3, "holding", 9999, 5)
        assert info.value.exception_code == 2
        with pytest.raises(ValueError):
            await read_raw(link, 3, "holding", 0, 200)


async def test_verified_write_and_range_error() -> None:
    """write_point writes, reads back, and refuses out-of-range values before sending."""
    profile = load_profile("hvac_fancoil")
    unit = SimUnit(1)
    setpoint = profile.point("setpoint")
    assert setpoint is not None
    async with serve_tcp(unit) as server:
        link = TcpLink("127.0.0.1", server.port)
        result = await write_point(link, 1, setpoint, 22.5)
        assert result.verified and result.value == 22.5
        assert unit.bank.get_holding(1) == [225]
        with pytest.raises(ValueOutOfRange):
            await write_point(link, 1, setpoint, 80)


async def test_unreachable_link_is_a_clear_error() -> None:
    """A link nobody listens on raises TransactionFailed('cannot connect')."""
    async with serve_tcp(SimUnit(1)) as server:
        port = server.port
    link = TcpLink("127.0.0.1", port, connect_timeout_s=0.3)
    with pytest.raises(TransactionFailed, match="cannot connect"):
        await read_raw(link, 1, "holding", 0)


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
async def test_scan_finds_units_on_rtu_bus() -> None:
    """Scan lists exactly the unit ids present on the bus, including one refusing the address."""
    units = [SimUnit(2), SimUnit(5), SimUnit(17, RegisterBank(10))]
    async with serve_rtu_pty(units, wire_time=False) as server:
        hits = await scan(RtuLink(server.client_port), range(1, 21), address=50, timeout_s=0.05)
    assert hits == [ScanHit(2), ScanHit(5), ScanHit(17, exception_code=2)]
