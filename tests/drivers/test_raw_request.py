"""Raw Modbus requests (edgectl modbus read/write through the bus) are checked before sending."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.points import Table
from drivers.modbus.raw import (
    MAX_COUNT,
    RawRequest,
    RawRequestError,
    exception_name,
    read_function,
    write_function,
)


@given(
    st.integers(-1, 20),
    st.integers(-5, 70000),
    st.integers(-1, 2100),
    st.lists(st.integers(-2, 70000), max_size=5).map(tuple),
)
def test_a_request_is_sendable_or_refused_by_name(
    function: int, address: int, count: int, values: tuple[int, ...]
) -> None:
    """Any fields either make a request a device can take, or RawRequestError."""
    try:
        r = RawRequest(function, address, count, values)
    except RawRequestError as exc:
        assert str(exc)
        return
    assert 1 <= r.count <= MAX_COUNT[r.function]
    assert 0 <= r.address <= r.last <= 0xFFFF
    if r.is_write:
        high = 1 if r.table is Table.COIL else 0xFFFF
        assert len(r.values) == r.count and all(0 <= v <= high for v in r.values)
    else:
        assert r.values == ()


def test_functions_tables_and_exception_names() -> None:
    assert [read_function(t) for t in Table] == [1, 2, 3, 4]
    assert write_function(Table.HOLDING, 1) == 6 and write_function(Table.HOLDING, 3) == 16
    assert write_function(Table.COIL, 1) == 5 and write_function(Table.COIL, 2) == 15
    with pytest.raises(RawRequestError, match="read-only"):
        write_function(Table.INPUT, 1)
    assert exception_name(2) == "Illegal data address"
    assert exception_name(99) == "Exception code 99"
    with pytest.raises(RawRequestError, match="past 65535"):
        RawRequest(3, 65535, 2)
    with pytest.raises(RawRequestError, match="use 16"):
        RawRequest(6, 0, 2, (1, 2))
