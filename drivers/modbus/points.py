"""Typed, frozen descriptions of Modbus points and device profiles.

Profiles are data (TOML files in `drivers/profiles/`), decoded once into these
structs by `drivers.modbus.profiles`; nothing edits them afterwards.
Addresses are protocol addresses (0-based, as on the wire), not 4xxxx numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

import msgspec

from ..roles import PointFacts, get_role, role_problem
from .errors import ProfileError


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
    STATUS_TABLE = "status_table"
    """One register per field device, decoded into a compact text (drivers.modbus.status)."""
    STATUS_COUNT = "status_count"
    """Derived: how many entries of a status table are in one state (no registers)."""


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
CountState = Literal["normal", "alarm", "fault", "disabled"]

#: At most this many entries in one status table (its text stays a few KB in a birth).
MAX_STATUS_ENTRIES = 16384

_STRUCT = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}


class StatusLayout(msgspec.Struct, **_STRUCT):
    """Where a `status_table` point's entries sit and what their bits mean.

    The table has `groups` groups (a fire panel's loops) of the point's `length` entries
    each, one register per entry; group g starts `stride` registers after group g-1
    (0: right after it). In each register, `alarm_bit`, `fault_bit` and `disabled_bit`
    (0 = LSB) flag the entry's state; with `installed_bit` set, an entry whose bit is
    clear is an empty address (not counted)."""

    groups: int = 1
    stride: int = 0
    alarm_bit: int = 0
    fault_bit: int = 1
    disabled_bit: int = 2
    installed_bit: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.groups <= 256:
            raise ValueError("status.groups must be 1..256")
        if not 0 <= self.stride <= 0xFFFF:
            raise ValueError("status.stride must be 0..65535 registers")
        bits = [self.alarm_bit, self.fault_bit, self.disabled_bit]
        if self.installed_bit is not None:
            bits.append(self.installed_bit)
        if any(not 0 <= b <= 15 for b in bits) or len(set(bits)) != len(bits):
            raise ValueError("status bits must be distinct bit numbers 0..15")


class StatusCount(msgspec.Struct, **_STRUCT):
    """A `status_count` point: the number of entries of status table `of` in `state`."""

    of: str
    state: CountState


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
    `roles` say what the point means (drivers.roles); `group` ties the points of one
    channel/loop of a multi-channel device together (`ch3`, `loop2`; "" = the device).
    `status` describes a `status_table` point, `count` a derived `status_count` point.
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
    roles: tuple[str, ...] = ()
    group: str = ""
    status: StatusLayout | None = None
    count: StatusCount | None = None

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
        if self.datatype in (DataType.STATUS_TABLE, DataType.STATUS_COUNT):
            self._check_status()
        elif self.datatype is not DataType.STRING and self.length:
            raise ValueError("`length` is only for string and status_table points")
        elif self.status is not None or self.count is not None:
            raise ValueError("`status` is only for status_table, `count` for status_count")
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
        self._check_roles()

    def _check_status(self) -> None:
        table_kind = self.datatype is DataType.STATUS_TABLE
        if self.table.is_bits:
            raise ValueError(f"a {self.datatype} point needs a register table")
        if self.writable or self.enum is not None or self.bit is not None:
            raise ValueError(f"a {self.datatype} point is read-only, without enum or bit")
        if table_kind:
            if self.status is None or self.count is not None:
                raise ValueError("a status_table point needs `status = {...}` (and no count)")
            if not 1 <= self.length <= 4096:
                raise ValueError("a status_table point needs `length` = 1..4096 entries")
            if self.length * self.status.groups > MAX_STATUS_ENTRIES:
                raise ValueError(f"a status table holds at most {MAX_STATUS_ENTRIES} entries")
            if self.status.stride and self.status.stride < self.length:
                raise ValueError("status.stride must be 0 or at least `length`")
        else:
            if self.count is None or self.status is not None or self.length:
                raise ValueError("a status_count point needs `count = { of, state }` only")

    def _check_roles(self) -> None:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError(f"point {self.name!r} lists a role twice")
        if self.group and not self.group.replace("_", "").isalnum():
            raise ValueError(f"group {self.group!r} must be letters, digits and '_'")
        facts = PointFacts(
            self.datatype.value,
            self.writable,
            self.enum is not None,
            self.count.state if self.count is not None else "",
        )
        for role in self.roles:
            problem = role_problem(role, facts)  # UnknownRole names the known roles
            if problem is not None:
                raise ValueError(f"point {self.name!r}: {problem}")

    @property
    def register_count(self) -> int:
        """Registers (or bits, in bit tables) this point occupies (for a status table,
        the span from its first entry to its last; a status count occupies none)."""
        if self.datatype is DataType.STRING:
            return self.length
        if self.datatype is DataType.STATUS_TABLE:
            assert self.status is not None
            return (self.status.groups - 1) * self.group_stride + self.length
        if self.datatype is DataType.STATUS_COUNT:
            return 0
        return REGISTER_COUNT[self.datatype]

    @property
    def group_stride(self) -> int:
        """Registers from one group of a status table to the next."""
        if self.status is None:
            return self.length
        return self.status.stride or self.length

    @property
    def derived(self) -> bool:
        """Computed by the driver from other points, never read from registers."""
        return self.datatype is DataType.STATUS_COUNT

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
            if p.datatype is DataType.STATUS_TABLE:
                continue  # read in segments of at most one block each
            if p.register_count > limit:
                raise ValueError(f"point {p.name!r} is larger than one block ({limit})")
            if p.count is not None:
                source = self.point(p.count.of)
                if source is None or source.datatype is not DataType.STATUS_TABLE:
                    raise ValueError(
                        f"point {p.name!r}: count.of {p.count.of!r} must name a "
                        "status_table point of this profile"
                    )
        if self.heartbeat is not None:
            hb = self.point(self.heartbeat.point)
            if hb is None or not hb.writable or hb.table is not Table.HOLDING:
                raise ValueError("heartbeat.point must name a writable holding point")

    def point(self, name: str) -> PointSpec | None:
        for p in self.points:
            if p.name == name:
                return p
        return None

    # ---- roles -------------------------------------------------------------
    def roles(self) -> frozenset[str]:
        """Every role some point of this profile carries."""
        return frozenset(r for p in self.points for r in p.roles)

    def points_with_role(self, role: str, group: str | None = None) -> tuple[PointSpec, ...]:
        """The points tagged `role` (in profile order), only those of `group` when given.
        An unknown role raises UnknownRole (a ValueError): a typo must not read as "none"."""
        get_role(role)
        return tuple(
            p for p in self.points if role in p.roles and (group is None or p.group == group)
        )

    def point_with_role(self, role: str, group: str | None = None) -> PointSpec | None:
        """The one point tagged `role` (in `group` when given), None when there is none;
        ProfileError when several match (a consumer needing one must not guess)."""
        found = self.points_with_role(role, group)
        if len(found) > 1:
            where = f" in group {group!r}" if group is not None else ""
            raise ProfileError(
                self.name,
                f"{len(found)} points have role {role!r}{where} "
                f"({', '.join(p.name for p in found)}); name the point explicitly",
            )
        return found[0] if found else None

    def companion(self, point: str, role: str) -> PointSpec | None:
        """The point tagged `role` in the same group as `point` (a switch's feedback,
        a loop's fault), or None."""
        own = self.point(point)
        if own is None:
            raise ProfileError(self.name, f"no point named {point!r}")
        found = self.points_with_role(role, own.group)
        return found[0] if found else None

    def missing_roles(self, required: Iterable[str]) -> list[str]:
        """The roles of `required` that no point of this profile carries (sorted)."""
        wanted = set(required)
        for role in wanted:
            get_role(role)  # a typo in the caller's list must not read as "missing"
        return sorted(wanted - self.roles())
