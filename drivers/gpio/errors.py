"""GPIO errors: few, named for what went wrong, carrying their data as attributes."""

from __future__ import annotations


class GpioError(Exception):
    """Base class of every error raised by `drivers.gpio`."""


class GpioUnavailable(GpioError):
    """The configured backend cannot run here (package missing, no chip, not a Pi, busy line).

    Raised when the backend is built or opened; `detail` says what is missing and the fix.
    """

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"GPIO backend {backend!r} unavailable: {detail}")
        self.backend = backend
        self.detail = detail


class GpioLinkDown(GpioError):
    """The backend is not connected (a remote GPIO server that is down or restarting)."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"GPIO backend {backend!r} not connected: {reason}")
        self.backend = backend
        self.reason = reason


class GpioTimeout(GpioLinkDown):
    """A remote GPIO server did not answer in time."""


class GpioRefused(GpioError):
    """The GPIO server (or kernel) refused an operation: `code` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"GPIO operation refused ({code}): {detail}")
        self.code = code
        self.detail = detail


class FrameError(GpioError):
    """A frame of the remote GPIO protocol that cannot be decoded (bad JSON, type, size)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"bad GPIO protocol frame: {detail}")
        self.detail = detail


class UnknownPoint(GpioError):
    """A device or point name that the GPIO bus does not know."""

    def __init__(self, device: str, point: str | None = None) -> None:
        what = f"device {device!r}" if point is None else f"point {point!r} of device {device!r}"
        super().__init__(f"unknown GPIO {what}")
        self.device = device
        self.point = point


class PointNotWritable(GpioError):
    """A write to an input (only `gpio_relay` devices take writes)."""

    def __init__(self, device: str, point: str) -> None:
        super().__init__(f"point {point!r} of GPIO device {device!r} is an input, not writable")
        self.device = device
        self.point = point


class BadValue(GpioError, ValueError):
    """A relay takes on/off: True/False (or 1/0)."""

    def __init__(self, device: str, point: str, value: object) -> None:
        super().__init__(
            f"point {point!r} of GPIO device {device!r}: {value!r} is not on/off (use true/false)"
        )
        self.device = device
        self.point = point
        self.value = value


class BusClosed(GpioError):
    """The GPIO bus is not running (not entered, or already exited)."""
