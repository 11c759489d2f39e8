"""Splitting a birth into a head and parts: every device once, in order, each part within
its budget; and the contract's closed datatype set is the drivers' own."""

from __future__ import annotations

import itertools
import typing
from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.points import DataType
from edge.uplink.birth import PART_BUDGET, split
from edge.uplink.contract import (
    BirthBody,
    BirthDevice,
    BirthPart,
    BirthPoint,
    BirthZone,
    WireDatatype,
)

T0 = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)


def device(i: int, points: int, text: int) -> BirthDevice:
    return BirthDevice(
        id=f"dev-{i}",
        profile="lighting_8ch",
        points=[
            BirthPoint(name=f"p{j}", datatype="string", json_type="string", value="x" * text)
            for j in range(points)
        ],
    )


def wire_size(part: object) -> int:
    """The part as sent, with the largest envelope values the session can give it."""
    fields = msgspec.structs.asdict(part)  # type: ignore[call-overload]
    wire = BirthPart(session=2**53, seq=2**53, msg_id="f" * 32, ts=T0, **fields)
    return len(msgspec.json.encode(wire))


@given(
    shapes=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 400)), min_size=0, max_size=40),
    budget=st.integers(2_000, 20_000),
)
def test_parts_hold_every_device_once_in_order_within_the_budget(
    shapes: list[tuple[int, int]], budget: int
) -> None:
    """Any devices, any budget: parts numbered 0..n-1, the devices in order, each part
    under the budget unless it is a single device too large for any part."""
    body = BirthBody(
        zones=[BirthZone(id="z", kind="court")],
        devices=[device(i, n, text) for i, (n, text) in enumerate(shapes)],
        config_version="7",
    )
    head, parts = split(body, "b" * 32, budget)
    assert [d.id for p in parts for d in p.devices] == [d.id for d in body.devices]
    assert [p.part for p in parts] == list(range(len(parts))) and head.parts == len(parts)
    assert all(p.parts == len(parts) and p.birth_id == head.birth_id for p in parts)
    assert head.devices == len(shapes) and head.points == sum(n for n, _ in shapes)
    for part in parts:
        assert part.devices, "no empty part"
        assert wire_size(part) <= budget or len(part.devices) == 1
    if len(parts) > 1:  # greedy: a part and the next device would not have fitted
        for part, nxt in itertools.pairwise(parts):
            joined = msgspec.structs.replace(part, devices=[*part.devices, nxt.devices[0]])
            assert wire_size(joined) > budget - 512


def test_default_budget_is_half_the_aws_limit() -> None:
    """64 KiB parts leave room under AWS IoT Core's 128 KB."""
    assert PART_BUDGET * 2 == 128 * 1024


def test_contract_datatypes_are_the_drivers_datatypes() -> None:
    """The closed `datatype` set in birth is exactly what a profile may declare."""
    assert set(typing.get_args(WireDatatype)) == {d.value for d in DataType}
