"""What edgectl can ask: each request decoded into an operation or a query, nothing more.

Validation, effects and journaling are the operations layer's (`edge.ops`), shared
with the cloud's commands. The user is the socket peer's, never from the request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from edge.ops import (
    AckAlarm,
    Actor,
    OpenGate,
    Operation,
    Operations,
    Refused,
    ReleaseOutput,
    Reload,
    ResetCounters,
    ResetEmergency,
    SetOutput,
)
from edge.ops.queries import Queries
from edge.ops.raw_modbus import RawModbus, RawRead, RawWrite
from rules.model import Value

Handler = Callable[[dict[str, Any], str], Awaitable[Any]]


def _text(args: dict[str, Any], key: str, what: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise Refused("invalid", f"missing {what}", f"pass {what} as `{key}`")
    return value


def _opt(args: dict[str, Any], key: str) -> str | None:
    value = args.get(key)
    return None if value is None else str(value)


def _number(args: dict[str, Any], key: str, default: float) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused("invalid", f"{key} must be a number, got {value!r}")
    return float(value)


def _int(args: dict[str, Any], key: str, default: int | None = None) -> int:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("invalid", f"{key} must be an integer, got {value!r}")
    return value


def _ints(args: dict[str, Any], key: str) -> tuple[int, ...]:
    values = args.get(key)
    if not isinstance(values, list) or not values:
        raise Refused("invalid", f"{key} must be a list of integers, got {values!r}")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise Refused("invalid", f"{key} must be integers (registers 0..65535, coils 0/1)")
    return tuple(values)


def control_handlers(ops: Operations) -> dict[str, Handler]:
    q = Queries(ops)
    raw = RawModbus(ops)

    async def run(op: Operation, user: str) -> Any:
        return {**await ops.execute(op, Actor("technician", user)), "by": user}

    async def ping(args: dict[str, Any], user: str) -> Any:
        return "pong"

    async def status(args: dict[str, Any], user: str) -> Any:
        return await q.status()

    async def reload(args: dict[str, Any], user: str) -> Any:
        return await run(Reload(), user)

    async def devices(args: dict[str, Any], user: str) -> Any:
        return q.devices()

    async def points(args: dict[str, Any], user: str) -> Any:
        return q.points(_opt(args, "device"), _opt(args, "zone"))

    async def read(args: dict[str, Any], user: str) -> Any:
        return q.read(_text(args, "point", "DEVICE.POINT"))

    async def write(args: dict[str, Any], user: str) -> Any:
        point = _text(args, "point", "DEVICE.POINT")
        seconds = args.get("for_s")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise Refused(
                "invalid",
                "an override needs an expiry: --for DURATION (e.g. --for 30m)",
                "at most 7 days; the output returns to its schedule afterwards",
            )
        value = args.get("value")
        if not isinstance(value, bool | int | float):
            raise Refused("invalid", f"value must be a number or true/false, got {value!r}")
        v: Value = value
        op = SetOutput(point, v, timedelta(seconds=seconds), str(args.get("reason", "")))
        return await run(op, user)

    async def release(args: dict[str, Any], user: str) -> Any:
        return await run(ReleaseOutput(_text(args, "point", "DEVICE.POINT")), user)

    async def explain(args: dict[str, Any], user: str) -> Any:
        return q.explain(_text(args, "point", "DEVICE.POINT"))

    async def bookings(args: dict[str, Any], user: str) -> Any:
        return q.bookings(_opt(args, "zone"), _opt(args, "date"))

    async def emergency_status(args: dict[str, Any], user: str) -> Any:
        return q.emergency()

    async def emergency_reset(args: dict[str, Any], user: str) -> Any:
        return await run(ResetEmergency(), user)

    async def journal(args: dict[str, Any], user: str) -> Any:
        return await q.journal(args)

    async def gate_open(args: dict[str, Any], user: str) -> Any:
        return await run(OpenGate(_text(args, "gate", "a gate id")), user)

    async def access(args: dict[str, Any], user: str) -> Any:
        limit = int(_number(args, "limit", 200))
        return await q.access(_opt(args, "gate"), _number(args, "since_ago_s", 86400), limit)

    async def alarms(args: dict[str, Any], user: str) -> Any:
        return q.alarms()

    async def alarms_ack(args: dict[str, Any], user: str) -> Any:
        return await run(AckAlarm(_text(args, "id", "an alarm id")), user)

    async def energy(args: dict[str, Any], user: str) -> Any:
        return await q.energy(_opt(args, "booking"), _opt(args, "zone"), _opt(args, "day"))

    async def counters(args: dict[str, Any], user: str) -> Any:
        return q.counters()

    async def counters_reset(args: dict[str, Any], user: str) -> Any:
        return await run(ResetCounters(_text(args, "output", "DEVICE.POINT")), user)

    async def outbox(args: dict[str, Any], user: str) -> Any:
        return await q.outbox()

    async def modbus_read(args: dict[str, Any], user: str) -> Any:
        ref = _opt(args, "ref")
        if ref is not None:
            return await raw.read_point(ref)
        device = _text(args, "device", "a device id")
        return await raw.read(
            RawRead(device, _int(args, "function"), _int(args, "address"), _int(args, "count", 1))
        )

    async def modbus_write(args: dict[str, Any], user: str) -> Any:
        actor = Actor("technician", user)
        force = args.get("force") is True
        reason = str(args.get("reason", ""))
        ref = _opt(args, "ref")
        if ref is not None:
            value = args.get("value")
            if not isinstance(value, bool | int | float):
                raise Refused("invalid", f"value must be a number or true/false, got {value!r}")
            return {**await raw.write_point(ref, value, force, reason, actor), "by": user}
        op = RawWrite(
            _text(args, "device", "a device id"),
            _int(args, "function"),
            _int(args, "address"),
            _ints(args, "values"),
            force,
            reason,
        )
        return {**await raw.write(op, actor), "by": user}

    return {
        "modbus_read": modbus_read,
        "modbus_write": modbus_write,
        "outbox": outbox,
        "alarms": alarms,
        "alarms_ack": alarms_ack,
        "energy": energy,
        "counters": counters,
        "counters_reset": counters_reset,
        "gate_open": gate_open,
        "access": access,
        "journal": journal,
        "ping": ping,
        "status": status,
        "reload": reload,
        "devices": devices,
        "points": points,
        "read": read,
        "write": write,
        "release": release,
        "explain": explain,
        "bookings": bookings,
        "emergency_status": emergency_status,
        "emergency_reset": emergency_reset,
    }
