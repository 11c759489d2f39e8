"""Raw Modbus reads and writes through the daemon's own bus (`edgectl modbus read/write`).

The request runs on the bus that owns the device's link, queued between its polls,
so an RTU port is never opened twice and the polls keep their period. A raw write
bypasses the reconciler, the one writer of outputs: a write that touches a register
of an output the gateway drives is refused unless forced, and every raw write, done
or refused, is journaled (kind `operation`, op `modbus_write`) with its actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.modbus.bus import Bus
from drivers.modbus.codec import Value, decode_point, encode_point
from drivers.modbus.errors import BusClosed, ModbusDriverError, TransactionFailed, UnknownPoint
from drivers.modbus.points import DataType, PointSpec, Table
from drivers.modbus.raw import RawRequest, RawRequestError, exception_name, write_function
from edge.journal import Entry
from edge.ops.model import Actor
from edge.ops.operations import Operations
from edge.ops.refusal import Refused
from edge.ops.suggest import suggest

_NO_RAW = (DataType.STATUS_TABLE, DataType.STATUS_COUNT)


@dataclass(frozen=True, slots=True)
class RawRead:
    """`count` items from protocol `address` (0-based) with function 1-4."""

    device: str
    function: int
    address: int
    count: int = 1


@dataclass(frozen=True, slots=True)
class RawWrite:
    """`values` to protocol `address` with function 5, 6, 15 or 16."""

    device: str
    function: int
    address: int
    values: tuple[int, ...]
    force: bool = False
    reason: str = ""


class RawModbus:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    # ---- reads (not journaled: they change nothing) ---------------------------------
    async def read(self, op: RawRead) -> dict[str, Any]:
        bus = self._bus(op.device)
        request = _request(op.function, op.address, op.count, ())
        data = await self._run(bus, op.device, request)
        return {**self._where(bus, op.device, request), "values": _plain(data)}

    async def read_point(self, ref: str) -> dict[str, Any]:
        """The registers of one point, read raw, and their decoded value."""
        device, spec = self._point(ref)
        bus = self._bus(device)
        function = {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}
        request = _request(function[spec.table], spec.address, spec.register_count, ())
        data = await self._run(bus, device, request)
        value: Value = decode_point(spec, data)
        return {
            **self._where(bus, device, request),
            "point": ref,
            "values": _plain(data),
            "value": value,
            "unit": spec.unit,
        }

    # ---- writes (journaled, refused on a controlled output unless forced) ------------
    async def write(self, op: RawWrite, actor: Actor) -> dict[str, Any]:
        touched: list[str] = []
        try:
            bus = self._bus(op.device)
            request = _request(op.function, op.address, len(op.values), op.values)
            touched = self._controlled(bus, op.device, request)
            if touched and not op.force:
                raise Refused(
                    "refused",
                    f"{', '.join(touched)}: an output the reconciler drives sits at "
                    f"{request.table} {request.address + 1}; only the reconciler writes it "
                    "(a raw write is undone at its next change and bypasses schedules)",
                    f"use `edgectl write {touched[0]} VALUE --for 30m`, or add --force to "
                    "write the register anyway (journaled with your name)",
                )
            await self._run(bus, op.device, request)
        except Refused as exc:
            body = {"ok": False, "code": exc.code, "message": exc.message}
            self._journal(op, actor, touched, body)
            raise
        result = {
            **self._where(bus, op.device, request),
            "values": list(op.values),
            "written": True,
            "forced_outputs": touched,
        }
        self._journal(op, actor, touched, {"ok": True})
        return result

    async def write_point(
        self, ref: str, value: Value, force: bool, reason: str, actor: Actor
    ) -> dict[str, Any]:
        """A point's value, encoded by its profile, written raw to its registers."""
        device, spec = self._point(ref)
        if spec.datatype is DataType.BOOL and not spec.table.is_bits:
            raise Refused(
                "invalid",
                f"'{ref}' is bit {spec.bit} of a register: a raw write sets the whole register",
                f"write the register with --device {device} --address {spec.address + 1}",
            )
        if not spec.writable or spec.table in (Table.DISCRETE, Table.INPUT):
            raise Refused("not_writable", f"'{ref}' is not writable (the profile says so)")
        try:
            encoded = encode_point(spec, value)
        except ModbusDriverError as exc:
            raise Refused("out_of_range", str(exc)) from None
        values = tuple(int(v) for v in encoded)
        function = write_function(spec.table, len(values))
        if spec.effective_write_fc in (15, 16):
            function = spec.effective_write_fc
        op = RawWrite(device, function, spec.address, values, force, reason)
        return {**await self.write(op, actor), "point": ref, "value": value}

    # ---- helpers ------------------------------------------------------------------
    def _bus(self, device: str) -> Bus:
        venue = self._ops.venue.get()
        ids = [d.id for d in venue.config.devices]
        if device not in ids:
            raise Refused(
                "invalid", f"unknown device '{device}'", suggest(device, ids, "edgectl devices")
            )
        bus = self._ops.stores.buses.bus_of(device)
        if not isinstance(bus, Bus):
            raise Refused(
                "unavailable",
                f"device '{device}' is not on a running Modbus bus",
                "see `edgectl status` (buses) and `edgectl devices`",
            )
        return bus

    def _point(self, ref: str) -> tuple[str, PointSpec]:
        device, _, name = ref.partition(".")
        bus = self._bus(device)
        points = bus.points_of(device)
        spec = points.get(name)
        if spec is None:
            known = [f"{device}.{p}" for p in points]
            raise Refused("unknown_point", f"unknown point '{ref}'", suggest(ref, known))
        if spec.datatype in _NO_RAW:
            raise Refused(
                "invalid",
                f"'{ref}' is a status table of several blocks",
                f"use `edgectl read {ref}` for its value",
            )
        return device, spec

    def _controlled(self, bus: Bus, device: str, request: RawRequest) -> list[str]:
        """The outputs the gateway drives whose registers the request touches."""
        outputs = self._ops.venue.get().outputs
        hit = []
        for name, spec in bus.points_of(device).items():
            ref = f"{device}.{name}"
            if ref not in outputs or spec.table is not request.table:
                continue
            last = spec.address + spec.register_count - 1
            if spec.address <= request.last and request.address <= last:
                hit.append(ref)
        return sorted(hit)

    async def _run(self, bus: Bus, device: str, request: RawRequest) -> list[int] | list[bool]:
        try:
            return await bus.raw(device, request)
        except TransactionFailed as exc:
            code = exc.exception_code
            if code is not None:
                raise Refused(
                    "failed",
                    f"{device} answered exception {code}: {exception_name(code)}",
                    "addresses are 1-based references unless --zero-based; "
                    "check the device's register map",
                ) from None
            raise Refused(
                "failed",
                f"{device} did not answer: {exc.reason}",
                "see `edgectl devices` and `edgectl status`",
            ) from None
        except (BusClosed, UnknownPoint) as exc:
            raise Refused("unavailable", str(exc), "see `edgectl status`") from None

    def _where(self, bus: Bus, device: str, request: RawRequest) -> dict[str, Any]:
        poll = bus.poll_stats.get(device)
        return {
            "device": device,
            "bus": bus.name,
            "link": bus.label,
            "via": "edged",
            "function": request.function,
            "table": str(request.table),
            "address": request.address,
            "reference": request.address + 1,
            "count": request.count,
            "poll_configured_s": poll.configured_s if poll else None,
            "poll_achieved_s": _round(poll.achieved_s) if poll else None,
        }

    def _journal(
        self, op: RawWrite, actor: Actor, touched: list[str], outcome: dict[str, Any]
    ) -> None:
        ops = self._ops
        zone = ops.venue.get().zone_of.get(op.device)
        body = {
            "op": "modbus_write",
            "function": op.function,
            "address": op.address,
            "reference": op.address + 1,
            "values": list(op.values),
            "force": op.force,
            "outputs": touched,
            "reason": op.reason,
            **outcome,
        }
        subject = f"{op.device}@{op.address + 1}"
        ops.stores.journal.record(
            Entry(
                ts=ops.clock.now(), kind="operation", subject=subject, device=op.device,
                zone=zone, actor=actor.id, actor_kind=actor.kind, body=body,
            )
        )  # fmt: skip


def _request(function: int, address: int, count: int, values: tuple[int, ...]) -> RawRequest:
    try:
        return RawRequest(function, address, count, values)
    except RawRequestError as exc:
        raise Refused("invalid", str(exc), "see `edgectl modbus read --help`") from None


def _plain(data: list[int] | list[bool]) -> list[int]:
    return [int(v) for v in data]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
