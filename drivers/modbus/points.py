"""Typed, frozen descriptions of Modbus points and device profiles.

Profiles are data (TOML files in `drivers/profiles/`), decoded once into these
structs by `drivers.modbus.profiles`; nothing edits them afterwards.
Addresses are protocol addresses (0-based, as on the wire), not 4xxxx numbers.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

import msgspec


class Table(StrEnum):
    COIL = "coil"
    DISCRETE = "discrete"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def is_bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


#: Registers per data type (strings use the point's `length`; bools take one register or bit).
REGISTER_COUNT: dict[DataType, int] = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
}

INTEGER_TYPES = frozenset(
    {DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32}
    | {DataType.INT64, DataType.UINT64}
)

Order = Literal["big", "little"]
WriteFc = Literal[5, 6, 15, 16]

_STRUCT = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}


class Readback(msgspec.Struct, **_STRUCT):
    """How a write is verified: after `delay_s`, read `address` of `table` (default: the
    written address and table; e.g. a setpoint echoed in an input register)."""

    address: int | None = None
    table: Table | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.address is not None and not 0 <= self.address <= 0xFFFF:
            raise ValueError("readback.address must be 0..65535")
        if not 0.0 <= self.delay_s <= 60.0:
            raise ValueError("readback.delay_s must be 0..60 seconds")


class PointSpec(msgspec.Struct, **_STRUCT):
    """One named value of a device.

    Engineering value = raw * scale + offset, rounded to `precision` decimals.
    `bit` selects one bit (0 = LSB) of a register for a bool in a register table.
    `length` is the register count of a string (two characters per register).
    `enum` maps raw integers (as TOML string keys) to labels; values are then labels.
    `min`/`max` bound writes in engineering units (the type's range always applies).
    `deadband` suppresses report-by-exception for changes smaller than it.
    `poll = false` leaves a write-only point (a watchdog) out of the poll cycle.
    """

    name: str
    table: Table
    address: int
    datatype: DataType = None  # type: ignore[assignment]  # resolved in __post_init__
    bit: int | None = None
    length: int = 0
    byte_order: Order = "big"
    word_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    precision: int | None = None
    unit: str = ""
    writable: bool = False
    write_fc: WriteFc | None = None
    enum: dict[str, str] | None = None
    min: float | None = None
    max: float | None = None
    verify: bool = True
    readback: Readback = Readback()
    deadband: float = 0.0
    poll: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.datatype is None:
            # Default: bool in the bit tables, uint16 in the register tables.
            default = DataType.BOOL if self.table.is_bits else DataType.UINT16
            msgspec.structs.force_setattr(self, "datatype", default)
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"point name {self.name!r} must be letters, digits and '_'")
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"address {self.address} must be 0..65535")
        if self.table.is_bits and self.datatype is not DataType.BOOL:
            raise ValueError(f"a {self.table} point must have datatype 'bool'")
        if self.datatype is DataType.BOOL and not self.table.is_bits and self.bit is None:
            raise ValueError("a bool in a register table needs `bit` (0..15)")
        if self.bit is not None and (self.datatype is not DataType.BOOL or not 0 <= self.bit <= 15):
            raise ValueError("`bit` (0..15) is only for bool points in register tables")
        if self.datatype is DataType.STRING and not 1 <= self.length <= 125:
            raise ValueError("a string point needs `length` = 1..125 registers")
        if self.datatype is not DataType.STRING and self.length:
            raise ValueError("`length` is only for string points")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise ValueError("scale must be finite and non-zero")
        if not math.isfinite(self.offset):
            raise ValueError("offset must be finite")
        if self.precision is not None and not 0 <= self.precision <= 12:
            raise ValueError("precision must be 0..12 decimals")
        if self.address + self.register_count > 0x10000:
            raise ValueError("point runs past address 65535")
        if self.writable and self.table in (Table.DISCRETE, Table.INPUT):
            raise ValueError(f"a {self.table} point cannot be writable (read-only table)")
        if self.write_fc is not None:
            allowed = (5, 15) if self.table is Table.COIL else (6, 16)
            if self.write_fc not in allowed:
                raise ValueError(f"write_fc {self.write_fc} not valid for table {self.table}")
            if self.write_fc == 6 and self.register_count != 1:
                raise ValueError("write_fc 6 writes one register; this point needs FC16")
        if self.enum is not None:
            for key in self.enum:
                if not key.lstrip("-").isdigit():
                    raise ValueError(f"enum key {key!r} must be an integer (as a string)")
            if self.datatype not in INTEGER_TYPES:
                raise ValueError("enum needs an integer datatype")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must be <= max")
        rb_table = self.readback.table
        if rb_table is not None and rb_table.is_bits != self.table.is_bits:
            raise ValueError("readback.table must be a bit table for bits, registers otherwise")
        if self.deadband < 0:
            raise ValueError("deadband must be >= 0")

    @property
    def register_count(self) -> int:
        """Registers (or bits, in bit tables) this point occupies."""
        if self.datatype is DataType.STRING:
            return self.length
        return REGISTER_COUNT[self.datatype]

    @property
    def effective_write_fc(self) -> int:
        """The function code a write uses: the configured one, else the natural one."""
        if self.write_fc is not None:
            return self.write_fc
        if self.table is Table.COIL:
            return 5
        return 6 if self.register_count == 1 else 16

    @property
    def readback_address(self) -> int:
        return self.address if self.readback.address is None else self.readback.address

    @property
    def readback_table(self) -> Table:
        return self.table if self.readback.table is None else self.readback.table


class Heartbeat(msgspec.Struct, **_STRUCT):
    """A device-side watchdog: the bus writes an incrementing counter to `point` every
    `period_s`; the device falls back to its safe state when writes stop."""

    point: str
    period_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0.1 <= self.period_s <= 3600:
            raise ValueError("heartbeat.period_s must be 0.1..3600")


class DeviceProfile(msgspec.Struct, **_STRUCT):
    """A device model: its points and the limits its firmware puts on block reads."""

    name: str
    points: tuple[PointSpec, ...]
    description: str = ""
    max_gap: int = 8
    max_block_registers: int = 125
    max_block_bits: int = 2000
    allow_gaps: bool = True
    heartbeat: Heartbeat | None = None

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a profile needs at least one point")
        names = [p.name for p in self.points]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate point names: {dupes}")
        if not 1 <= self.max_block_registers <= 125:
            raise ValueError("max_block_registers must be 1..125")
        if not 1 <= self.max_block_bits <= 2000:
            raise ValueError("max_block_bits must be 1..2000")
        if not 0 <= self.max_gap <= 125:
            raise ValueError("max_gap must be 0..125")
        for p in self.points:
            limit = self.max_block_bits if p.table.is_bits else self.max_block_registers
            if p.register_count > limit:
                raise ValueError(f"point {p.name!r} is larger than one block ({limit})")
        if self.heartbeat is not None:
            hb = self.point(self.heartbeat.point)
            if hb is None or not hb.writable or hb.table is not Table.HOLDING:
                raise ValueError("heartbeat.point must name a writable holding point")

    def point(self, name: str) -> PointSpec | None:
        for p in self.points:
            if p.name == name:
                return p
        return None
