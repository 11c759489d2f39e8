"""An in-memory GPIO backend for tests and the simulator."""

from __future__ import annotations

from .backend import Pull


class SimulatedGpio:
    """Pins in memory. The simulator drives inputs with `set_input(pin, level)` and
    reads outputs with `level(pin)`; `history` lists every (pin, level) written."""

    def __init__(self) -> None:
        self.levels: dict[int, bool] = {}
        self.modes: dict[int, str] = {}
        self.history: list[tuple[int, bool]] = []
        self.closed = False

    def setup_output(self, pin: int, level: bool) -> None:
        self.modes[pin] = "out"
        self.levels[pin] = level
        self.history.append((pin, level))

    def setup_input(self, pin: int, pull: Pull) -> None:
        self.modes[pin] = "in"
        self.levels.setdefault(pin, pull == "up")

    def write(self, pin: int, level: bool) -> None:
        if self.modes.get(pin) != "out":
            raise ValueError(f"pin {pin} is not configured as an output")
        self.levels[pin] = level
        self.history.append((pin, level))

    def read(self, pin: int) -> bool:
        return self.levels.get(pin, False)

    def set_input(self, pin: int, level: bool) -> None:
        self.levels[pin] = level

    def level(self, pin: int) -> bool:
        return self.levels[pin]

    def close(self) -> None:
        self.closed = True
