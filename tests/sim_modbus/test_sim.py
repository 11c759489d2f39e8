"""Simulated Modbus devices: memory, write hooks, faults, transports, wire time, mbpoll."""

from __future__ import annotations

import asyncio
import shutil
import time

import msgspec
import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType

from drivers.modbus.points import PointSpec
from sim.modbus import RegisterBank, SimUnit, serve_rtu_over_tcp, serve_rtu_pty, serve_tcp
from sim.modbus.wire import WireModel, silence_time


def test_bank_get_set_and_bounds() -> None:
    """Each table stores its own values; out-of-range access raises IndexError."""
    bank = RegisterBank(100)
    bank.set_holding(10, [1, 65535])
    bank.set_coils(5, [True])
    assert bank.get_holding(10, 2) == [1, 65535]
    assert bank.get_input(10, 2) == [0, 0]
    assert bank.get_coils(4, 2) == [False, True]
    with pytest.raises(IndexError):
        bank.get_holding(99, 2)
    with pytest.raises(ValueError):
        bank.set_holding(0, [70000])


def test_bank_points_use_the_driver_codec() -> None:
    """set_point/get_point store engineering values as the bus will decode them."""
    bank = RegisterBank(10)
    p = msgspec.convert(
        {"name": "t", "table": "input", "address": 2, "datatype": "int16", "scale": 0.1},
        PointSpec,
    )
    bank.set_point(p, -12.5)
    assert bank.get_input(2) == [0xFF83]
    assert bank.get_point(p) == pytest.approx(-12.5)


async def test_master_writes_fire_hooks_and_reads_see_memory() -> None:
    """A TCP master reads the bank and its writes reach on_write hooks with the values."""
    unit = SimUnit(3)
    unit.bank.set_input(0, [11, 22, 33])
    seen: list[tuple[str, int, list[int] | list[bool]]] = []
    unit.bank.on_write(lambda t, a, v: seen.append((t, a, list(v))))
    async with serve_tcp(unit) as server:
        client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=1, retries=0)
        await client.connect()
        try:
            rr = await client.read_input_registers(0, count=3, device_id=3)
            assert rr.registers == [11, 22, 33]
            await client.write_registers(7, [5, 6], device_id=3)
            await client.write_coil(2, True, device_id=3)
        finally:
            client.close()
    assert seen == [("holding", 7, [5, 6]), ("coil", 2, [True])]
    assert unit.bank.get_holding(7, 2) == [5, 6]


async def test_faults_exception_offline_garbage_slow() -> None:
    """Each fault switch changes what the master sees, and heal() restores answers."""
    unit = SimUnit(1)
    async with serve_tcp(unit) as server:
        client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=0.3, retries=0)
        await client.connect()
        try:
            unit.exception_code = 4
            rr = await client.read_holding_registers(0, count=1, device_id=1)
            assert rr.isError() and rr.exception_code == 4
            unit.heal()
            unit.offline = True
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=1)
            unit.heal()
            unit.garbage = True
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=1)
            unit.heal()
            unit.slow_s = 0.15
            t0 = time.perf_counter()
            rr = await client.read_holding_registers(0, count=1, device_id=1)
            assert not rr.isError() and time.perf_counter() - t0 >= 0.15
            unit.heal()
            rr = await client.read_holding_registers(9999, count=2, device_id=1)
            assert rr.isError() and rr.exception_code == 2
        finally:
            client.close()


async def test_tcp_drop_and_restart_same_port_keeps_memory() -> None:
    """drop_link refuses connections; restart serves the same memory on the same port."""
    unit = SimUnit(1)
    unit.bank.set_holding(0, [77])
    async with serve_tcp(unit) as server:
        port = server.port
        await server.drop_link()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        await server.restart()
        assert server.port == port
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        await client.connect()
        try:
            assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [77]
        finally:
            client.close()


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
async def test_rtu_pty_several_units_and_wire_time() -> None:
    """Two units share one pty bus; replies take the modelled wire time; garbage is rejected."""
    a, b = SimUnit(1), SimUnit(2)
    a.bank.set_holding(0, [1] * 10)
    b.bank.set_holding(0, [2] * 10)
    async with serve_rtu_pty([a, b], baudrate=19200, wire_time=True) as server:
        client = AsyncModbusSerialClient(
            server.client_port, framer=FramerType.RTU, baudrate=19200, timeout=0.5, retries=0
        )
        await client.connect()
        try:
            t0 = time.perf_counter()
            ra = await client.read_holding_registers(0, count=10, device_id=1)
            elapsed = time.perf_counter() - t0
            rb = await client.read_holding_registers(0, count=10, device_id=2)
            assert ra.registers == [1] * 10 and rb.registers == [2] * 10
            expected = WireModel(19200).reply_delay(8, 25)
            assert elapsed >= expected
            a.garbage = True
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=10, device_id=1)
            with pytest.raises(ModbusIOException):  # nobody has id 9: silence
                await client.read_holding_registers(0, count=1, device_id=9)
        finally:
            client.close()


def test_wire_model_figures() -> None:
    """19200 baud: 11 bits/char, 3.5-char silence; 1.75 ms silence above 19200."""
    assert silence_time(19200) == pytest.approx(3.5 * 11 / 19200)
    assert silence_time(115200) == pytest.approx(0.00175)
    model = WireModel(19200)
    # 8-byte request + 25-byte reply + two silences: about 44 transactions/s.
    assert 1 / model.transaction_time(8, 25) == pytest.approx(43.6, abs=0.5)


async def test_rtu_over_tcp_gateway() -> None:
    """RTU framing over a TCP socket reaches the right unit."""
    unit = SimUnit(5)
    unit.bank.set_input(3, [1234])
    async with serve_rtu_over_tcp(unit) as server:
        client = AsyncModbusTcpClient(
            "127.0.0.1", port=server.port, framer=FramerType.RTU, timeout=1, retries=0
        )
        await client.connect()
        try:
            rr = await client.read_input_registers(3, count=1, device_id=5)
            assert rr.registers == [1234]
        finally:
            client.close()


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="needs mbpoll")
async def test_mbpoll_reads_simulated_registers() -> None:
    """The Debian mbpoll binary (a master we did not write) reads the right values."""
    unit = SimUnit(7)
    unit.bank.set_holding(100, [1234, 65535, 42])
    unit.bank.set_coils(4, [True])
    async with serve_tcp(unit) as server:

        async def mbpoll(*args: str) -> str:
            proc = await asyncio.create_subprocess_exec(
                "mbpoll",
                "-m",
                "tcp",
                "-a",
                "7",
                "-p",
                str(server.port),
                "-0",
                "-1",
                *args,
                "127.0.0.1",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 10)
            assert proc.returncode == 0, err.decode()
            return out.decode()

        regs = await mbpoll("-t", "4", "-r", "100", "-c", "3")
        assert "[100]: \t1234\n" in regs
        assert "[101]: \t65535 (-1)" in regs and "[102]: \t42\n" in regs
        coils = await mbpoll("-t", "0", "-r", "4", "-c", "1")
        assert "[4]: \t1\n" in coils
        temp = msgspec.convert(
            {"name": "t", "table": "holding", "address": 200, "datatype": "float32"}, PointSpec
        )
        unit.bank.set_point(temp, -21.5)
        floats = await mbpoll("-t", "4:float", "-B", "-r", "200", "-c", "1")
        assert "[200]: \t-21.5" in floats
