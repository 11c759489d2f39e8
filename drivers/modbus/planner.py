"""Block planner: coalesce a device's points into the fewest read requests.

Per table, points are sorted by address and merged greedily while the block
stays within the per-request limit (125 registers / 2000 bits, or the device's
own smaller limits) and the hole to the next point is at most `max_gap`
(or zero when the device rejects reads across unmapped addresses).
Greedy in address order is optimal here: a block can only grow by the next
point, and starting a new block earlier never lets a later one reach further.
A status table (thousands of status words, drivers.modbus.status) is read in
segments of its own: each at most one block long and inside one group (loop).
Derived points (status counts) are never read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .points import DataType, DeviceProfile, PointSpec, Table

FUNCTION_CODE: dict[Table, int] = {
    Table.COIL: 1,
    Table.DISCRETE: 2,
    Table.HOLDING: 3,
    Table.INPUT: 4,
}


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: `count` registers/bits of `table` from `start`."""

    table: Table
    start: int
    count: int
    points: tuple[PointSpec, ...]
    first_entry: int | None = None
    """For a status-table segment: the index of its first entry in the table."""

    @property
    def end(self) -> int:
        return self.start + self.count

    def slice_for(self, point: PointSpec) -> slice:
        """Where the point's data sits in this block's response."""
        offset = point.address - self.start
        return slice(offset, offset + point.register_count)


def plan_blocks(
    points: tuple[PointSpec, ...] | list[PointSpec],
    *,
    max_gap: int = 8,
    max_registers: int = 125,
    max_bits: int = 2000,
    allow_gaps: bool = True,
) -> list[Block]:
    """Blocks covering every polled point exactly once (in one block that spans it)."""
    blocks: list[Block] = []
    for table in Table:
        limit = max_bits if table.is_bits else max_registers
        gap = max_gap if allow_gaps else 0
        ordered = sorted(
            (p for p in points if p.table is table and p.poll and p.datatype not in _SPECIAL),
            key=lambda p: (p.address, p.register_count),
        )
        current: list[PointSpec] = []
        start = end = 0
        for p in ordered:
            p_end = p.address + p.register_count
            if current and p.address - end <= gap and max(end, p_end) - start <= limit:
                current.append(p)
                end = max(end, p_end)
                continue
            if current:
                blocks.append(Block(table, start, end - start, tuple(current)))
            current, start, end = [p], p.address, p_end
        if current:
            blocks.append(Block(table, start, end - start, tuple(current)))
        for p in points:
            if p.table is table and p.poll and p.datatype is DataType.STATUS_TABLE:
                blocks.extend(table_segments(p, limit))
    return blocks


_SPECIAL = (DataType.STATUS_TABLE, DataType.STATUS_COUNT)


def table_segments(point: PointSpec, limit: int) -> list[Block]:
    """The reads covering a status table: per group, runs of at most `limit` entries."""
    assert point.status is not None
    out = []
    for g in range(point.status.groups):
        for off in range(0, point.length, limit):
            count = min(limit, point.length - off)
            address = point.address + g * point.group_stride + off
            out.append(Block(point.table, address, count, (point,), g * point.length + off))
    return out


def plan_profile(profile: DeviceProfile) -> list[Block]:
    """Blocks for a whole profile using its own limits."""
    return plan_blocks(
        profile.points,
        max_gap=profile.max_gap,
        max_registers=profile.max_block_registers,
        max_bits=profile.max_block_bits,
        allow_gaps=profile.allow_gaps,
    )
