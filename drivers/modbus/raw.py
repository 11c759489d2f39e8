"""Raw Modbus requests (function code, address, count or values), checked before sending.

A technician's `edgectl modbus read/write` goes through the daemon's bus as one of
these; the bus runs it between its polls. Addresses here are protocol addresses
(0-based); people type 1-based references, the CLI converts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ModbusDriverError
from .points import Table

READ_FUNCTIONS: dict[int, Table] = {
    1: Table.COIL,
    2: Table.DISCRETE,
    3: Table.HOLDING,
    4: Table.INPUT,
}
WRITE_FUNCTIONS: dict[int, Table] = {
    5: Table.COIL,
    6: Table.HOLDING,
    15: Table.COIL,
    16: Table.HOLDING,
}
MAX_COUNT: dict[int, int] = {1: 2000, 2: 2000, 3: 125, 4: 125, 5: 1, 6: 1, 15: 1968, 16: 123}
"""The most items one request may carry (Modbus Application Protocol v1.1b3, 6.1-6.12)."""

# The names mbpoll (libmodbus) prints for exception codes.
EXCEPTION_NAMES: dict[int, str] = {
    1: "Illegal function",
    2: "Illegal data address",
    3: "Illegal data value",
    4: "Slave device or server failure",
    5: "Acknowledge",
    6: "Slave device or server is busy",
    7: "Negative acknowledge",
    8: "Memory parity error",
    10: "Gateway path unavailable",
    11: "Target device failed to respond",
}


class RawRequestError(ModbusDriverError, ValueError):
    """A raw request that cannot be sent; the message names the field and its range."""


def exception_name(code: int) -> str:
    return EXCEPTION_NAMES.get(code, f"Exception code {code}")


def read_function(table: Table) -> int:
    return next(fc for fc, t in READ_FUNCTIONS.items() if t is table)


def write_function(table: Table, count: int) -> int:
    """FC5/6 for one item, FC15/16 for several."""
    if table is Table.COIL:
        return 5 if count == 1 else 15
    if table is Table.HOLDING:
        return 6 if count == 1 else 16
    raise RawRequestError(f"{table} is read-only: write a coil or a holding register")


@dataclass(frozen=True, slots=True)
class RawRequest:
    """One request: `count` items from `address` (reads), or `values` to it (writes)."""

    function: int
    address: int
    count: int = 1
    values: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        fc = self.function
        if fc not in READ_FUNCTIONS and fc not in WRITE_FUNCTIONS:
            raise RawRequestError(f"function {fc} is not supported: reads 1-4, writes 5, 6, 15, 16")
        if self.is_write:
            if self.count != len(self.values):
                raise RawRequestError("a write's count is the number of its values")
            if fc in (5, 6) and len(self.values) != 1:
                raise RawRequestError(f"function {fc} writes one value; use {fc + 10} for more")
            high = 1 if self.table is Table.COIL else 0xFFFF
            bad = [v for v in self.values if not 0 <= v <= high]
            if bad:
                raise RawRequestError(f"value {bad[0]} is outside 0..{high} for a {self.table}")
        elif self.values:
            raise RawRequestError("a read takes a count, not values")
        limit = MAX_COUNT[fc]
        if not 1 <= self.count <= limit:
            raise RawRequestError(f"count {self.count} must be 1..{limit} for function {fc}")
        if not 0 <= self.address <= 0xFFFF:
            raise RawRequestError(f"address {self.address} must be 0..65535 (references 1..65536)")
        if self.address + self.count > 0x10000:
            raise RawRequestError(f"{self.count} items from address {self.address} run past 65535")

    @property
    def is_write(self) -> bool:
        return self.function in WRITE_FUNCTIONS

    @property
    def table(self) -> Table:
        return WRITE_FUNCTIONS[self.function] if self.is_write else READ_FUNCTIONS[self.function]

    @property
    def last(self) -> int:
        """The last protocol address the request touches."""
        return self.address + self.count - 1
