"""Builders of pymodbus requests for blocks, reads and writes (FC1-6, 15, 16)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pymodbus.client.base import ModbusBaseClient
from pymodbus.pdu import ModbusPDU

from .points import Table

Request = Callable[[ModbusBaseClient], Awaitable[ModbusPDU]]


def read_request(table: Table, address: int, count: int, unit: int) -> Request:
    def run(c: ModbusBaseClient) -> Awaitable[ModbusPDU]:
        if table is Table.COIL:
            return c.read_coils(address, count=count, device_id=unit)
        if table is Table.DISCRETE:
            return c.read_discrete_inputs(address, count=count, device_id=unit)
        if table is Table.HOLDING:
            return c.read_holding_registers(address, count=count, device_id=unit)
        return c.read_input_registers(address, count=count, device_id=unit)

    return run


def response_data(table: Table, response: ModbusPDU, count: int) -> list[int] | list[bool]:
    """The values of a read response; bit replies are padded to bytes, so cut to `count`."""
    if table.is_bits:
        bits = list(response.bits[:count])
        if len(bits) != count:
            raise ValueError(f"short reply: {len(bits)} of {count} bits")
        return bits
    regs = list(response.registers)
    if len(regs) != count:
        raise ValueError(f"short reply: {len(regs)} of {count} registers")
    return regs


def write_request(fc: int, address: int, values: list[int] | list[bool], unit: int) -> Request:
    def run(c: ModbusBaseClient) -> Awaitable[ModbusPDU]:
        if fc == 5:
            return c.write_coil(address, bool(values[0]), device_id=unit)
        if fc == 15:
            return c.write_coils(address, [bool(v) for v in values], device_id=unit)
        if fc == 6:
            return c.write_register(address, int(values[0]), device_id=unit)
        return c.write_registers(address, [int(v) for v in values], device_id=unit)

    return run
