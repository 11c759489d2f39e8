"""Device memory of a simulated Modbus unit, with hooks for master writes."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

from drivers.modbus.codec import Value, decode_point, encode_point, merge_bit
from drivers.modbus.points import DataType, PointSpec, Table

WriteHook = Callable[[str, int, list[int] | list[bool]], None]

TABLES = ("coil", "discrete", "holding", "input")


class RegisterBank:
    """Coils, discrete inputs, holding and input registers (protocol addresses from 0).

    `set_*`/`get_*` are the simulator's own access (no hooks fire); a Modbus
    master's writes go through `master_write`, which stores the values and then
    calls every `on_write` hook with (table, address, values) so behaviours react.
    """

    def __init__(
        self,
        size: int = 10000,
        *,
        coils: int | None = None,
        discrete: int | None = None,
        holding: int | None = None,
        input: int | None = None,
    ) -> None:
        self._bits: dict[str, bytearray] = {
            "coil": bytearray(size if coils is None else coils),
            "discrete": bytearray(size if discrete is None else discrete),
        }
        self._regs: dict[str, array[int]] = {
            "holding": array("H", bytes(2 * (size if holding is None else holding))),
            "input": array("H", bytes(2 * (size if input is None else input))),
        }
        self._hooks: list[WriteHook] = []

    def size(self, table: str) -> int:
        return len(self._bits[table]) if table in self._bits else len(self._regs[table])

    def on_write(self, hook: WriteHook) -> WriteHook:
        """Register `hook(table, address, values)` for master writes; usable as a decorator."""
        self._hooks.append(hook)
        return hook

    def _check(self, table: str, address: int, count: int) -> None:
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r}; use one of {TABLES}")
        if count < 1 or address < 0 or address + count > self.size(table):
            raise IndexError(f"{table} {address}+{count} outside 0..{self.size(table) - 1}")

    def get(self, table: str, address: int, count: int = 1) -> list[int] | list[bool]:
        self._check(table, address, count)
        if table in self._bits:
            return [bool(b) for b in self._bits[table][address : address + count]]
        return list(self._regs[table][address : address + count])

    def set(self, table: str, address: int, values: Sequence[int] | Sequence[bool]) -> None:
        self._check(table, address, len(values))
        if table in self._bits:
            self._bits[table][address : address + len(values)] = bytes(bool(v) for v in values)
        else:
            for v in values:
                if not 0 <= int(v) <= 0xFFFF:
                    raise ValueError(f"register value {v} outside 0..65535")
            self._regs[table][address : address + len(values)] = array("H", map(int, values))

    def master_write(self, table: str, address: int, values: list[int] | list[bool]) -> None:
        """A write from the Modbus master: store, then notify hooks."""
        self.set(table, address, values)
        for hook in self._hooks:
            hook(table, address, values)

    # Convenience accessors per table.
    def get_coils(self, address: int, count: int = 1) -> list[bool]:
        return [bool(v) for v in self.get("coil", address, count)]

    def set_coils(self, address: int, values: Sequence[bool]) -> None:
        self.set("coil", address, values)

    def get_discrete(self, address: int, count: int = 1) -> list[bool]:
        return [bool(v) for v in self.get("discrete", address, count)]

    def set_discrete(self, address: int, values: Sequence[bool]) -> None:
        self.set("discrete", address, values)

    def get_holding(self, address: int, count: int = 1) -> list[int]:
        return [int(v) for v in self.get("holding", address, count)]

    def set_holding(self, address: int, values: Sequence[int]) -> None:
        self.set("holding", address, values)

    def get_input(self, address: int, count: int = 1) -> list[int]:
        return [int(v) for v in self.get("input", address, count)]

    def set_input(self, address: int, values: Sequence[int]) -> None:
        self.set("input", address, values)

    # Engineering values through the drivers' codec (same encoding as the real bus uses).
    def get_point(self, point: PointSpec) -> Value:
        return decode_point(point, self.get(point.table.value, point.address, point.register_count))

    def set_point(self, point: PointSpec, value: Value) -> None:
        """Store an engineering value (ignoring write limits: devices may exceed them)."""
        if point.datatype is DataType.BOOL and point.table in (Table.HOLDING, Table.INPUT):
            assert point.bit is not None
            current = self.get(point.table.value, point.address)[0]
            self.set(
                point.table.value, point.address, [merge_bit(int(current), point.bit, bool(value))]
            )
            return
        unlimited = point if point.min is None and point.max is None else _unbounded(point)
        self.set(point.table.value, point.address, encode_point(unlimited, value))


def _unbounded(point: PointSpec) -> PointSpec:
    import msgspec

    return msgspec.structs.replace(point, min=None, max=None)
