"""Simulated GPIO pins: the chip that edged's `remote` backend drives through the GPIO server.

Levels are electrical (True = high). A connection requests lines as a kernel request would:
a line held by one connection is `busy` for the others. When the connection goes away its
lines are released and **outputs keep their last level**: on real chips the state of a
released line is undefined and many keep it, so the simulator takes the worst case. edged
requests its relays off when it starts, which is what turns a relay left on by a crash off.

The world's side: `drive(line, level)` puts a signal on an input (a contact, a limit switch),
`watch_outputs(fn)` hears every output change (a barrier motor), `history` keeps every output
level change with its instant, so a test measures a pulse at the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from drivers.clock import Clock
from drivers.gpio.lines import MAX_LINE
from drivers.gpio.protocol import LineSpec


class PinRefused(Exception):
    """A request the chip refuses; `code` goes on the wire (busy, not_requested...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PinChange:
    """An output line changed level (`cause`: who: a connection's name, or "world")."""

    line: int
    level: bool
    mono: float
    wall: datetime
    cause: str


@dataclass(slots=True)
class Pin:
    line: int
    direction: Literal["in", "out"] = "in"
    pull: Literal["up", "down", "off"] = "off"
    out_level: bool = False
    driven: bool | None = None
    """The world's signal on the pin; None: floating (the bias decides)."""
    owner: object | None = None

    @property
    def level(self) -> bool:
        if self.direction == "out":
            return self.out_level
        if self.driven is not None:
            return self.driven
        return self.pull == "up"


Watcher = Callable[[int, bool], None]


class SimPins:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pins: dict[int, Pin] = {}
        self.history: list[PinChange] = []
        self._outputs: list[Watcher] = []
        self._inputs: list[Watcher] = []

    def _pin(self, line: int) -> Pin:
        if not 0 <= line <= MAX_LINE:
            raise PinRefused("bad_line", f"line {line} does not exist (0..{MAX_LINE})")
        return self.pins.setdefault(line, Pin(line))

    # Connections (the GPIO server acts for them).
    def request(self, owner: object, specs: Sequence[LineSpec], name: str = "") -> None:
        """Take `specs` for `owner`, all or nothing."""
        lines = [s.line for s in specs]
        if len(set(lines)) != len(lines):
            raise PinRefused("bad_request", f"a line is listed twice in {sorted(lines)}")
        for s in specs:
            held = self._pin(s.line).owner
            if held is not None and held is not owner:
                raise PinRefused("busy", f"line {s.line} is held by another connection")
        for s in specs:
            pin = self._pin(s.line)
            pin.owner, pin.pull = owner, s.pull
            was = pin.level
            pin.direction = s.dir
            if s.dir == "out":
                pin.out_level = s.level
            self._changed(pin, was, name or "request")

    def release(self, owner: object) -> list[int]:
        """Give up every line of `owner`; outputs keep their level (see the module doc)."""
        lines = []
        for pin in self.pins.values():
            if pin.owner is owner:
                pin.owner = None
                lines.append(pin.line)
        return lines

    def _owned(self, owner: object, line: int) -> Pin:
        pin = self._pin(line)
        if pin.owner is not owner:
            raise PinRefused("not_requested", f"line {line} was not requested on this connection")
        return pin

    def write(self, owner: object, line: int, level: bool, name: str = "") -> None:
        pin = self._owned(owner, line)
        if pin.direction != "out":
            raise PinRefused("not_output", f"line {line} is an input")
        was = pin.level
        pin.out_level = level
        self._changed(pin, was, name or "client")

    def read(self, owner: object, line: int) -> bool:
        return self._owned(owner, line).level

    # The world.
    def drive(self, line: int, level: bool | None) -> None:
        """Put a signal on a line (None: let it float to its bias)."""
        pin = self._pin(line)
        was = pin.level
        pin.driven = level
        self._changed(pin, was, "world")

    def level(self, line: int) -> bool:
        return self._pin(line).level

    def watch_outputs(self, fn: Watcher) -> Callable[[], None]:
        self._outputs.append(fn)
        return lambda: self._outputs.remove(fn)

    def watch_inputs(self, fn: Watcher) -> Callable[[], None]:
        self._inputs.append(fn)
        return lambda: self._inputs.remove(fn)

    def _changed(self, pin: Pin, was: bool, cause: str) -> None:
        level = pin.level
        if pin.direction == "out":
            if level != was:
                self.history.append(
                    PinChange(pin.line, level, self.clock.monotonic(), self.clock.now(), cause)
                )
            for fn in list(self._outputs):
                fn(pin.line, level)
        elif level != was:
            for fn in list(self._inputs):
                fn(pin.line, level)
