"""The few operations a GPIO backend must offer (levels are electrical: True = high)."""

from __future__ import annotations

from typing import Literal, Protocol

Pull = Literal["up", "down", "off"]


class GpioBackend(Protocol):
    def setup_output(self, pin: int, level: bool) -> None: ...

    def setup_input(self, pin: int, pull: Pull) -> None: ...

    def write(self, pin: int, level: bool) -> None: ...

    def read(self, pin: int) -> bool: ...

    def close(self) -> None: ...
