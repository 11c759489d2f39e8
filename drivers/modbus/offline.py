"""Library functions behind `edgectl modbus read|write|scan` (daemon stopped).

They use the same channel, codec and verified-write path as the daemon's bus, so
a technician sees exactly what the daemon would see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import msgspec

from ..tasks import cancel_and_wait
from .bus import Bus
from .channel import Channel
from .codec import Value
from .errors import CodecError, TransactionFailed
from .events import BusStats, PointUpdate, WriteResult
from .links import DeviceConfig, Link
from .points import DeviceProfile, PointSpec, Table
from .requests import read_request, response_data

# Exception codes a TCP gateway uses for "no device behind me with that id".
_GATEWAY_NO_DEVICE = {0x0A, 0x0B}


@dataclass(frozen=True, slots=True)
class ScanHit:
    """A unit id that answered; `exception_code` if it answered with an exception."""

    unit_id: int
    exception_code: int | None = None


@contextlib.asynccontextmanager
async def _channel(link: Link) -> AsyncIterator[Channel]:
    # A scan meets mostly silent ids: never reset the link for silence here.
    channel = Channel(link, BusStats(), "offline", reset_after_silent=None)
    task = asyncio.create_task(channel.supervise())
    try:
        if not await channel.wait_connected(link.connect_timeout_s):
            raise TransactionFailed(link.label, "cannot connect to the link")
        yield channel
    finally:
        # Until it is done: pymodbus' `wait_for` can swallow a cancellation (a hang of
        # `edgectl modbus read` on a dead link, seen in the suite).
        await cancel_and_wait(task)
        channel.close()


async def read_raw(
    link: Link,
    unit_id: int,
    table: Table | str,
    address: int,
    count: int = 1,
    *,
    timeout_s: float = 1.0,
    retries: int = 1,
) -> list[int] | list[bool]:
    """Read `count` raw registers/bits. Raises TransactionFailed."""
    table = Table(table)
    limit = 2000 if table.is_bits else 125
    if not 1 <= count <= limit or not 0 <= address <= 0xFFFF:
        raise ValueError(f"count must be 1..{limit} and address 0..65535")
    async with _channel(link) as ch:
        response = await ch.transact(
            f"unit {unit_id}",
            unit_id,
            read_request(table, address, count, unit_id),
            timeout_s,
            retries,
        )
        try:
            return response_data(table, response, count)
        except ValueError as exc:
            raise TransactionFailed(f"unit {unit_id}", str(exc)) from exc


def _single_point_device(unit_id: int, point: PointSpec, timeout_s: float) -> DeviceConfig:
    profile = DeviceProfile(name="offline", points=(msgspec.structs.replace(point, poll=False),))
    return DeviceConfig("device", unit_id, profile, poll_interval_s=3600, timeout_s=timeout_s)


async def read_point(
    link: Link,
    unit_id: int,
    point: PointSpec,
    *,
    timeout_s: float = 1.0,
    profile: DeviceProfile | None = None,
) -> PointUpdate:
    """Read and decode one point (e.g. a profile's point). A derived point (a status
    count) needs its `profile`, to read the table it is counted from."""
    if profile is None and point.count is not None:
        raise CodecError(point.name, f"derived from {point.count.of!r}: pass the profile")
    if profile is None:
        device = _single_point_device(unit_id, point, timeout_s)
    else:
        quiet = tuple(msgspec.structs.replace(p, poll=False) for p in profile.points)
        device = DeviceConfig(
            "device",
            unit_id,
            msgspec.structs.replace(profile, points=quiet, heartbeat=None),
            poll_interval_s=3600,
            timeout_s=timeout_s,
        )
    async with Bus(link, [device]) as bus:
        return await bus.read("device", point.name)


async def write_point(
    link: Link, unit_id: int, point: PointSpec, value: Value, *, timeout_s: float = 1.0
) -> WriteResult:
    """Verified write of one point (encoding, range checks and read-back as in the daemon)."""
    async with Bus(link, [_single_point_device(unit_id, point, timeout_s)]) as bus:
        return await bus.write("device", point.name, value)


async def scan(
    link: Link,
    unit_ids: Iterable[int] = range(1, 248),
    *,
    table: Table | str = Table.HOLDING,
    address: int = 0,
    timeout_s: float = 0.2,
) -> list[ScanHit]:
    """The unit ids that answer a one-register (or one-bit) read, in order.

    An exception reply counts as present (the device exists but refuses that address),
    except the gateway codes 10/11 that mean "nobody with that id".
    """
    table = Table(table)
    hits: list[ScanHit] = []
    async with _channel(link) as ch:
        for unit in unit_ids:
            if not 0 <= unit <= 247:
                raise ValueError(f"unit id {unit} must be 0..247")
            try:
                await ch.transact(
                    f"unit {unit}", unit, read_request(table, address, 1, unit), timeout_s, 0
                )
            except TransactionFailed as exc:
                if exc.exception_code is not None and exc.exception_code not in _GATEWAY_NO_DEVICE:
                    hits.append(ScanHit(unit, exc.exception_code))
                elif not ch.connected:
                    raise
                continue
            hits.append(ScanHit(unit))
    return hits
