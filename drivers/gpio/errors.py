"""GPIO errors."""

from __future__ import annotations


class GpioError(Exception):
    """Base class of GPIO errors."""


class GpioUnavailable(GpioError):
    """The requested backend cannot run here (not a Pi, or its package is missing)."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"GPIO backend {backend!r} unavailable: {detail}")
        self.backend = backend
        self.detail = detail


class UnknownChannel(GpioError):
    """A relay or input name that was not configured."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no GPIO relay or input named {name!r}")
        self.name = name
