"""The protocol every GPIO backend offers: requested lines, logical values, pushed changes.

Every method may be awaited from the event loop and returns within about a millisecond:
chip and kernel calls (`gpiod`, `rpi`) are ioctls or memory reads of microseconds, and the
slow part (opening a chip, setting up pins) runs in a worker thread; `remote` is socket I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .lines import LineConfig


class GpioListener(Protocol):
    """Told by a backend what happens on its own: an input moved, the link went up or down."""

    def line_changed(self, line: int, value: bool) -> None:
        """An input line's logical value may have changed (not debounced)."""

    def link_changed(self, up: bool, reason: str) -> None:
        """The backend (re)gained or lost its lines (remote server restarted...)."""


class GpioBackend(Protocol):
    @property
    def label(self) -> str:
        """Where the lines are, for logs and status (`gpiod:/dev/gpiochip0`)."""
        ...

    @property
    def connected(self) -> bool:
        """True while the requested lines are held and usable."""
        ...

    async def open(self, lines: Sequence[LineConfig], listener: GpioListener) -> None:
        """Request every line at once (outputs start at their `initial` value).

        Raises GpioUnavailable when this backend cannot work here. A remote backend whose
        server is down does not raise: it reports the link down and keeps reconnecting.
        """
        ...

    async def set(self, line: int, value: bool) -> None:
        """Drive an output line to a logical value (GpioLinkDown when not connected)."""
        ...

    async def get(self, line: int) -> bool:
        """The logical value of a line; for an output, the level read back from the chip."""
        ...

    async def close(self) -> None:
        """Release the lines (their level afterwards is up to the chip: drive them first)."""
        ...
