"""The few exceptions of the Modbus driver; each carries its data as attributes."""

from __future__ import annotations


class ModbusDriverError(Exception):
    """Base class for every error raised by `drivers.modbus`."""


class ProfileError(ModbusDriverError):
    """A device profile (TOML file or override) is invalid; `where` names the file/point."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


class ValueOutOfRange(ModbusDriverError):
    """A value cannot be written to a point: outside the type's range or the point's limits."""

    def __init__(self, point: str, value: object, low: object, high: object) -> None:
        super().__init__(
            f"point {point!r}: value {value!r} is outside the writable range [{low}, {high}]"
        )
        self.point = point
        self.value = value
        self.low = low
        self.high = high


class CodecError(ModbusDriverError):
    """Registers/bits cannot be decoded, or a value has the wrong type for its point."""

    def __init__(self, point: str, detail: str) -> None:
        super().__init__(f"point {point!r}: {detail}")
        self.point = point
        self.detail = detail


class UnknownPoint(ModbusDriverError):
    """A device or point name that the bus does not know."""

    def __init__(self, device: str, point: str | None = None) -> None:
        what = f"device {device!r}" if point is None else f"point {point!r} of device {device!r}"
        super().__init__(f"unknown {what}")
        self.device = device
        self.point = point


class PointNotWritable(ModbusDriverError):
    """A write to a point the profile does not mark `writable = true`."""

    def __init__(self, device: str, point: str) -> None:
        super().__init__(f"point {point!r} of device {device!r} is not writable")
        self.device = device
        self.point = point


class TransactionFailed(ModbusDriverError):
    """One Modbus transaction failed after retries (timeout, exception reply, lost link)."""

    def __init__(self, device: str, reason: str, exception_code: int | None = None) -> None:
        super().__init__(f"device {device!r}: {reason}")
        self.device = device
        self.reason = reason
        self.exception_code = exception_code


class BusClosed(ModbusDriverError):
    """The bus is not running (not entered, or already exited)."""
