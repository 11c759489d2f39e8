"""Pure conversions between engineering values and Modbus registers/bits.

Two layers:
- raw: `encode_raw(value, datatype, ...)` / `decode_raw(registers, datatype, ...)`
  turn a Python int/float/str into 16-bit registers with the given byte order
  (inside each register) and word order (register order) and back;
- point: `encode_point(point, value)` / `decode_point(point, words)` add scale,
  offset, precision, enum maps, register bits and range checks.

No I/O here: everything is testable with byte fixtures.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from .errors import CodecError, ValueOutOfRange
from .points import DataType, Order, PointSpec, Table
from .status import render_words

Value = bool | int | float | str

_FORMATS: dict[DataType, str] = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

#: Inclusive raw ranges of the integer types.
INT_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38


def _to_words(data: bytes, byte_order: Order, word_order: Order) -> list[int]:
    """Big-endian bytes -> registers in the requested orders."""
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _from_words(registers: list[int], byte_order: Order, word_order: Order) -> bytes:
    """Registers in the given orders -> big-endian bytes (inverse of `_to_words`)."""
    words = [r.to_bytes(2, "big") for r in registers]
    if byte_order == "little":
        words = [w[::-1] for w in words]
    if word_order == "little":
        words.reverse()
    return b"".join(words)


def encode_raw(
    value: int | float | str,
    datatype: DataType,
    byte_order: Order = "big",
    word_order: Order = "big",
    length: int = 0,
) -> list[int]:
    """Encode a raw (unscaled) value into registers; ValueError/OverflowError on bad input."""
    if datatype is DataType.STRING:
        if not isinstance(value, str):
            raise TypeError("string datatype needs a str")
        data = value.encode("utf-8")
        if len(data) > 2 * length:
            raise ValueError(f"string is {len(data)} bytes, the point holds {2 * length}")
        return _to_words(data.ljust(2 * length, b"\0"), byte_order, word_order)
    if datatype is DataType.BOOL:
        return [1 if value else 0]
    fmt = _FORMATS[datatype]
    if datatype in INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{datatype} needs an int")
        low, high = INT_RANGES[datatype]
        if not low <= value <= high:
            raise OverflowError(f"{value} outside {datatype} range [{low}, {high}]")
    elif isinstance(value, str):
        raise TypeError(f"{datatype} needs a number")
    elif datatype is DataType.FLOAT32 and math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        raise OverflowError(f"{value} outside float32 range")
    return _to_words(struct.pack(">" + fmt, value), byte_order, word_order)


def decode_raw(
    registers: list[int],
    datatype: DataType,
    byte_order: Order = "big",
    word_order: Order = "big",
) -> int | float | str:
    """Decode registers (exactly the point's count) into a raw value."""
    if any(not 0 <= r <= 0xFFFF for r in registers):
        raise ValueError("register values must be 0..65535")
    data = _from_words(registers, byte_order, word_order)
    if datatype is DataType.STRING:
        # Devices pad with NUL or spaces; undecodable bytes become U+FFFD, never a crash.
        return data.split(b"\0", 1)[0].decode("utf-8", errors="replace").rstrip()
    if datatype is DataType.BOOL:
        return int.from_bytes(data, "big")
    expected = struct.calcsize(_FORMATS[datatype])
    if len(data) != expected:
        raise ValueError(f"{datatype} needs {expected // 2} registers, got {len(registers)}")
    result: int | float = struct.unpack(">" + _FORMATS[datatype], data)[0]
    return result


def _round(point: PointSpec, value: float) -> float:
    return round(value, point.precision) if point.precision is not None else value


def decode_point(point: PointSpec, data: list[int] | list[bool]) -> Value:
    """Decode the point's registers (or its single bit) into its engineering value."""
    if point.datatype is DataType.STATUS_TABLE:
        return _decode_status(point, data)
    if point.datatype is DataType.STATUS_COUNT:
        assert point.count is not None
        raise CodecError(point.name, f"derived from {point.count.of!r}: read that point")
    if point.table.is_bits:
        if len(data) != 1:
            raise CodecError(point.name, f"expected 1 bit, got {len(data)}")
        return bool(data[0])
    words = [int(v) for v in data]
    if len(words) != point.register_count:
        raise CodecError(point.name, f"expected {point.register_count} registers, got {len(words)}")
    if point.datatype is DataType.BOOL:
        assert point.bit is not None  # checked by PointSpec
        return bool((words[0] >> point.bit) & 1)
    try:
        raw = decode_raw(words, point.datatype, point.byte_order, point.word_order)
    except ValueError as exc:
        raise CodecError(point.name, str(exc)) from exc
    if isinstance(raw, str):
        return raw
    if point.enum is not None:
        # An unknown code is reported as its number (as text): visible, not dropped.
        return point.enum.get(str(raw), str(raw))
    if point.scale == 1.0 and point.offset == 0.0 and isinstance(raw, int):
        return raw
    return _round(point, raw * point.scale + point.offset)


def _decode_status(point: PointSpec, data: list[int] | list[bool]) -> str:
    words = [int(v) for v in data]
    if len(words) != point.register_count or any(not 0 <= w <= 0xFFFF for w in words):
        raise CodecError(point.name, f"expected {point.register_count} registers 0..65535")
    return render_words(point, words)


def _enum_raw(point: PointSpec, value: Value) -> int:
    assert point.enum is not None
    for key, label in point.enum.items():
        if value == label:
            return int(key)
    if isinstance(value, int) and not isinstance(value, bool) and str(value) in point.enum:
        return value
    raise CodecError(point.name, f"{value!r} is not one of {sorted(point.enum.values())}")


def value_range(point: PointSpec) -> tuple[float, float]:
    """The writable engineering range of a numeric point (type range, then min/max)."""
    if point.datatype in INT_RANGES:
        low_raw, high_raw = INT_RANGES[point.datatype]
        ends = sorted((low_raw * point.scale + point.offset, high_raw * point.scale + point.offset))
        low, high = ends[0], ends[1]
    elif point.datatype is DataType.FLOAT32:
        low, high = -_FLOAT32_MAX, _FLOAT32_MAX
    else:
        low, high = -math.inf, math.inf
    if point.min is not None:
        low = max(low, point.min)
    if point.max is not None:
        high = min(high, point.max)
    return low, high


def encode_point(point: PointSpec, value: Value) -> list[int] | list[bool]:
    """Encode an engineering value for writing; bits for coils, registers otherwise.

    For a register-bit bool this returns the bit as a one-element list of 0/1;
    the bus merges it into the current register (read-modify-write).
    Raises ValueOutOfRange (naming point, value and range) or CodecError.
    """
    if point.datatype in (DataType.STATUS_TABLE, DataType.STATUS_COUNT):
        raise CodecError(point.name, f"a {point.datatype} point is read-only")
    if point.table is Table.COIL or point.datatype is DataType.BOOL:
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise CodecError(point.name, f"needs true/false, got {value!r}")
        return [bool(value)] if point.table is Table.COIL else [int(value)]
    if point.datatype is DataType.STRING:
        if not isinstance(value, str):
            raise CodecError(point.name, f"needs a string, got {value!r}")
        try:
            return encode_raw(
                value, point.datatype, point.byte_order, point.word_order, point.length
            )
        except ValueError as exc:
            raise CodecError(point.name, str(exc)) from exc
    if point.enum is not None:
        raw_int = _enum_raw(point, value)
        return _encode_checked(point, raw_int, raw_int)
    if isinstance(value, str) or not isinstance(value, int | float):
        raise CodecError(point.name, f"needs a number, got {value!r}")
    if math.isnan(value):
        unbounded = point.min is None and point.max is None
        if point.datatype in (DataType.FLOAT32, DataType.FLOAT64) and unbounded:
            return encode_raw(value, point.datatype, point.byte_order, point.word_order)
        raise ValueOutOfRange(point.name, value, *value_range(point))
    low, high = value_range(point)
    if not low <= value <= high:
        raise ValueOutOfRange(point.name, value, low, high)
    raw: int | float = (value - point.offset) / point.scale
    if point.datatype in INT_RANGES:
        if isinstance(value, int) and point.scale == 1.0 and point.offset == 0.0:
            raw = value  # exact for 64-bit values beyond float precision
        else:
            raw = round(raw)
    return _encode_checked(point, value, raw)


def _encode_checked(point: PointSpec, value: Value, raw: int | float) -> list[int]:
    try:
        return encode_raw(raw, point.datatype, point.byte_order, point.word_order)
    except (OverflowError, struct.error, TypeError) as exc:
        raise ValueOutOfRange(point.name, value, *value_range(point)) from exc


def merge_bit(register: int, bit: int, on: bool) -> int:
    """Set or clear one bit of a register value (read-modify-write of a register bool)."""
    return (register | (1 << bit)) if on else (register & ~(1 << bit) & 0xFFFF)


Decoder = Callable[[Sequence[int] | Sequence[bool]], Value]


def compile_decoder(point: PointSpec) -> Decoder:
    """A decoder specialised for one point, equal to `decode_point` but decided once
    (the poll path decodes every point of every block, so it must be cheap)."""
    if point.table.is_bits:
        return lambda data: bool(data[0])
    if point.datatype is DataType.BOOL:
        bit = point.bit or 0
        return lambda data: bool((int(data[0]) >> bit) & 1)
    if point.datatype in (DataType.STRING, DataType.STATUS_TABLE, DataType.STATUS_COUNT):
        return lambda data: decode_point(point, list(data))
    n = point.register_count
    words = struct.Struct((">" if point.byte_order == "big" else "<") + f"{n}H")
    value_fmt = struct.Struct(">" + _FORMATS[point.datatype])
    reverse = point.word_order == "little"
    name = point.name

    def raw_of(data: Sequence[int] | Sequence[bool]) -> int | float:
        regs = data[::-1] if reverse else data
        try:
            result: int | float = value_fmt.unpack(words.pack(*regs))[0]
        except struct.error as exc:
            raise CodecError(name, f"bad registers {list(data)}: {exc}") from exc
        return result

    if point.enum is not None:
        labels = dict(point.enum)
        return lambda data: (lambda raw: labels.get(str(raw), str(raw)))(raw_of(data))
    scale, offset, precision = point.scale, point.offset, point.precision
    if scale == 1.0 and offset == 0.0 and point.datatype in INT_RANGES:
        return raw_of
    if precision is None:
        return lambda data: raw_of(data) * scale + offset
    return lambda data: round(raw_of(data) * scale + offset, precision)
