"""An in-process GPIO backend: pins in memory, for unit tests and `edgectl gpio --backend
simulated`. The simulated venue serves its pins from another process instead (`remote`).

The test's side: `set_input(line, level)` drives an input electrically (True = high),
`level(line)` reads what an output drives, `history` lists every (line, level) driven,
`disconnect(reason)` / `reconnect()` make the backend go away and come back.
"""

from __future__ import annotations

from collections.abc import Sequence

from .backend import GpioListener
from .errors import GpioError, GpioLinkDown
from .lines import LineConfig


class SimulatedGpio:
    def __init__(self) -> None:
        self.levels: dict[int, bool] = {}
        self.configs: dict[int, LineConfig] = {}
        self.history: list[tuple[int, bool]] = []
        self.closed = False
        self._up = False
        self._reason = "not opened"
        self._listener: GpioListener | None = None

    @property
    def label(self) -> str:
        return "simulated"

    @property
    def connected(self) -> bool:
        return self._up

    async def open(self, lines: Sequence[LineConfig], listener: GpioListener) -> None:
        self._listener = listener
        self.configs = {c.line: c for c in lines}
        for c in lines:
            if c.is_output:
                self._drive(c.line, c.level(c.initial))
            else:
                self.levels.setdefault(c.line, c.pull == "up")
        self._up = True
        self.closed = False

    def _drive(self, line: int, level: bool) -> None:
        self.levels[line] = level
        self.history.append((line, level))

    def _config(self, line: int) -> LineConfig:
        if not self._up:
            raise GpioLinkDown(self.label, self._reason)
        try:
            return self.configs[line]
        except KeyError:
            raise GpioError(f"line {line} was not requested") from None

    async def set(self, line: int, value: bool) -> None:
        c = self._config(line)
        if not c.is_output:
            raise GpioError(f"line {line} is an input")
        self._drive(line, c.level(value))

    async def get(self, line: int) -> bool:
        c = self._config(line)
        return c.level(self.levels[line])

    async def close(self) -> None:
        self._up, self._reason = False, "closed"
        self.closed = True

    # The test's side.
    def set_input(self, line: int, level: bool) -> None:
        """Drive an input electrically; a requested input tells the listener."""
        before = self.levels.get(line)
        self.levels[line] = level
        c = self.configs.get(line)
        if c is not None and not c.is_output and before != level and self._up and self._listener:
            self._listener.line_changed(line, c.level(level))

    def level(self, line: int) -> bool:
        return self.levels[line]

    def disconnect(self, reason: str = "simulated outage") -> None:
        self._up, self._reason = False, reason
        if self._listener is not None:
            self._listener.link_changed(False, reason)

    def reconnect(self) -> None:
        """Back, with outputs re-requested at their initial value (as after a restart)."""
        for c in self.configs.values():
            if c.is_output:
                self._drive(c.line, c.level(c.initial))
        self._up = True
        if self._listener is not None:
            self._listener.link_changed(True, "")
