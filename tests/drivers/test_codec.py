"""Codec: raw and point-level round trips, byte/word orders, scaling, enums, range errors."""

from __future__ import annotations

import math
import struct

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.codec import (
    INT_RANGES,
    compile_decoder,
    decode_point,
    decode_raw,
    encode_point,
    encode_raw,
    merge_bit,
)
from drivers.modbus.errors import CodecError, ValueOutOfRange
from drivers.modbus.points import DataType, PointSpec

ORDERS = st.sampled_from(["big", "little"])


def point(**kw: object) -> PointSpec:
    base: dict[str, object] = {"name": "p", "table": "holding", "address": 0}
    return msgspec.convert(base | kw, PointSpec)


@pytest.mark.parametrize("dt", sorted(INT_RANGES))
@given(data=st.data(), byte_order=ORDERS, word_order=ORDERS)
def test_int_round_trip(
    dt: DataType, data: st.DataObject, byte_order: str, word_order: str
) -> None:
    """Every integer type survives encode/decode in every byte and word order."""
    low, high = INT_RANGES[dt]
    value = data.draw(st.integers(low, high))
    regs = encode_raw(value, dt, byte_order, word_order)  # type: ignore[arg-type]
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode_raw(regs, dt, byte_order, word_order) == value  # type: ignore[arg-type]


@pytest.mark.parametrize("dt", [DataType.FLOAT32, DataType.FLOAT64])
@given(value=st.floats(allow_nan=True, allow_infinity=True), byte_order=ORDERS, word_order=ORDERS)
def test_float_round_trip(dt: DataType, value: float, byte_order: str, word_order: str) -> None:
    """Floats (negatives, infinities, NaN) round-trip; float32 to its own precision."""
    if dt is DataType.FLOAT32:
        if math.isfinite(value) and abs(value) > 3.4028234663852886e38:
            with pytest.raises(OverflowError):
                encode_raw(value, dt, byte_order, word_order)  # type: ignore[arg-type]
            return
        expected = struct.unpack(">f", struct.pack(">f", value))[0]
    else:
        expected = value
    regs = encode_raw(value, dt, byte_order, word_order)  # type: ignore[arg-type]
    got = decode_raw(regs, dt, byte_order, word_order)  # type: ignore[arg-type]
    assert isinstance(got, float)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


@given(text=st.text(max_size=20), byte_order=ORDERS, word_order=ORDERS)
def test_string_round_trip(text: str, byte_order: str, word_order: str) -> None:
    """Strings without NUL/trailing spaces round-trip; too long ones are refused."""
    text = text.replace("\0", "").rstrip()
    length = 20
    if len(text.encode()) > 2 * length:
        with pytest.raises(ValueError):
            encode_raw(text, DataType.STRING, byte_order, word_order, length)  # type: ignore[arg-type]
        return
    regs = encode_raw(text, DataType.STRING, byte_order, word_order, length)  # type: ignore[arg-type]
    assert len(regs) == length
    assert decode_raw(regs, DataType.STRING, byte_order, word_order) == text  # type: ignore[arg-type]


@given(regs=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8))
def test_decoding_arbitrary_registers_never_crashes(regs: list[int]) -> None:
    """Any register content decodes to a value or a CodecError, never another exception."""
    for dt in DataType:
        if dt in (DataType.BOOL, DataType.STATUS_TABLE, DataType.STATUS_COUNT):
            continue  # status types need their layout: tests/drivers/test_status.py
        kw: dict[str, object] = {"datatype": dt.value}
        if dt is DataType.STRING:
            kw["length"] = len(regs)
        p = point(**kw)
        try:
            decode_point(p, regs)
        except CodecError:
            assert len(regs) != p.register_count


def test_known_byte_fixtures() -> None:
    """Word/byte orders match the four usual device conventions (ABCD, CDAB, BADC, DCBA)."""
    # 123456.0 as float32 is 0x47F12000.
    assert encode_raw(123456.0, DataType.FLOAT32, "big", "big") == [0x47F1, 0x2000]
    assert encode_raw(123456.0, DataType.FLOAT32, "big", "little") == [0x2000, 0x47F1]
    assert encode_raw(123456.0, DataType.FLOAT32, "little", "big") == [0xF147, 0x0020]
    assert encode_raw(123456.0, DataType.FLOAT32, "little", "little") == [0x0020, 0xF147]
    assert encode_raw(-2, DataType.INT16) == [0xFFFE]
    assert encode_raw(-2, DataType.INT32) == [0xFFFF, 0xFFFE]
    assert encode_raw("AB", DataType.STRING, length=2) == [0x4142, 0]


@given(value=st.floats(-3276.8, 3276.7).map(lambda v: round(v, 1)))
def test_scaled_int16_round_trip(value: float) -> None:
    """A 0.1-scaled int16 (typical setpoint) round-trips negatives to its precision."""
    p = point(datatype="int16", scale=0.1, precision=1, writable=True)
    assert decode_point(p, encode_point(p, value)) == pytest.approx(value, abs=1e-9)


@given(value=st.floats(allow_nan=True, allow_infinity=False, width=32))
def test_float_point_round_trip_with_nan(value: float) -> None:
    """A float32 point round-trips any float32 value, NaN included."""
    p = point(datatype="float32", word_order="little", writable=True)
    got = decode_point(p, encode_point(p, value))
    assert isinstance(got, float)
    assert (math.isnan(got) and math.isnan(value)) or got == value


def test_offset_and_precision() -> None:
    """Engineering value = raw * scale + offset, rounded to `precision`."""
    p = point(datatype="uint16", scale=0.01, offset=-40.0, precision=2, writable=True)
    assert decode_point(p, [6500]) == 25.0
    assert encode_point(p, 25.0) == [6500]


def test_out_of_range_write_names_point_value_and_range() -> None:
    """Writing 40000 to an int16 or 35 C to a max=30 setpoint raises ValueOutOfRange."""
    p = point(name="dim_level", datatype="int16", writable=True)
    with pytest.raises(ValueOutOfRange) as info:
        encode_point(p, 40000)
    assert "dim_level" in str(info.value) and "40000" in str(info.value)
    assert (info.value.low, info.value.high) == (-32768, 32767)
    sp = point(name="setpoint", datatype="int16", scale=0.1, min=5, max=30, writable=True)
    with pytest.raises(ValueOutOfRange) as info2:
        encode_point(sp, 35.0)
    assert info2.value.high == 30
    with pytest.raises(ValueOutOfRange):
        encode_point(point(datatype="uint16"), -1)
    with pytest.raises(ValueOutOfRange):
        encode_point(point(datatype="int16"), math.nan)


def test_enum_maps_both_ways() -> None:
    """Enum points decode codes to labels, encode labels (or known codes), refuse others."""
    p = point(datatype="uint16", enum={"0": "off", "1": "heat", "2": "cool"}, writable=True)
    assert decode_point(p, [2]) == "cool"
    assert decode_point(p, [9]) == "9"
    assert encode_point(p, "heat") == [1]
    assert encode_point(p, 2) == [2]
    with pytest.raises(CodecError):
        encode_point(p, "turbo")


def test_bools_in_bit_tables_and_register_bits() -> None:
    """Coils/discretes decode one bit; register bools read their own bit."""
    coil = point(table="coil")
    assert decode_point(coil, [True]) is True
    assert encode_point(coil, False) == [False]
    flag = point(datatype="bool", bit=3)
    assert decode_point(flag, [0b1000]) is True
    assert decode_point(flag, [0b0111]) is False
    assert merge_bit(0b0111, 3, True) == 0b1111
    assert merge_bit(0xFFFF, 0, False) == 0xFFFE
    with pytest.raises(CodecError):
        encode_point(coil, 2)


def test_wrong_types_give_codec_errors() -> None:
    """A string to a number point or a number to a string point is a CodecError."""
    with pytest.raises(CodecError):
        encode_point(point(datatype="int32"), "12")
    with pytest.raises(CodecError):
        encode_point(point(datatype="string", length=2), 12)
    with pytest.raises(CodecError):
        encode_point(point(datatype="string", length=1), "abc")


@st.composite
def numeric_points(draw: st.DrawFn) -> PointSpec:
    special = (DataType.STRING, DataType.STATUS_TABLE, DataType.STATUS_COUNT)
    dt = draw(st.sampled_from([d for d in DataType if d not in special]))
    spec: dict[str, object] = {
        "datatype": dt.value,
        "byte_order": draw(ORDERS),
        "word_order": draw(ORDERS),
    }
    if dt is DataType.BOOL:
        spec["bit"] = draw(st.integers(0, 15))
    elif draw(st.booleans()) and dt in INT_RANGES:
        spec["enum"] = {"0": "off", "1": "on", "-1": "minus"}
    elif draw(st.booleans()):
        spec["scale"] = draw(st.sampled_from([0.1, 0.01, 2.0, -1.0]))
        spec["offset"] = draw(st.sampled_from([0.0, -40.0, 273.15]))
        spec["precision"] = draw(st.sampled_from([None, 0, 1, 2]))
    return point(**spec)


@given(p=numeric_points(), data=st.data())
def test_compiled_decoder_equals_decode_point(p: PointSpec, data: st.DataObject) -> None:
    """The poll path's compiled decoder gives exactly decode_point's result."""
    regs = data.draw(
        st.lists(st.integers(0, 0xFFFF), min_size=p.register_count, max_size=p.register_count)
    )
    expected = decode_point(p, regs)
    got = compile_decoder(p)(regs)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got)
    else:
        assert got == expected and type(got) is type(expected)
