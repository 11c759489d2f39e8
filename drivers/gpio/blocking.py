"""Blocking access to one or two pins, for `edgectl gpio` with the daemon stopped.

`open_backend("gpiod")` returns a `BlockingGpio` that runs the async backend on a private
event loop: `setup_output(pin, level)`, `setup_input(pin, pull)`, `write`, `read`, `close`.
Levels here are electrical (True = high), as a technician measures them on the header.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from .backend import GpioBackend
from .errors import GpioUnavailable
from .lines import Direction, LineConfig, Pull
from .settings import BackendKind, GpioBusSettings, make_backend

T = TypeVar("T")


class _Quiet:
    def line_changed(self, line: int, value: bool) -> None:
        pass

    def link_changed(self, up: bool, reason: str) -> None:
        pass


class BlockingGpio:
    def __init__(self, backend: GpioBackend) -> None:
        self.backend = backend
        self._runner = asyncio.Runner()
        self._lines: dict[int, LineConfig] = {}
        self._open = False

    def _run(self, coro: Any) -> Any:
        return self._runner.run(coro)

    def _reopen(self) -> None:
        # Backends request all their lines at once: adding one means requesting again.
        if self._open:
            self._run(self.backend.close())
        self._open = False
        self._run(self.backend.open(list(self._lines.values()), _Quiet()))
        self._open = True

    def setup_output(self, pin: int, level: bool) -> None:
        self._lines[pin] = LineConfig(pin, Direction.OUTPUT, initial=level)
        self._reopen()

    def setup_input(self, pin: int, pull: Pull) -> None:
        self._lines[pin] = LineConfig(pin, Direction.INPUT, pull=pull)
        self._reopen()

    def write(self, pin: int, level: bool) -> None:
        self._run(self.backend.set(pin, level))
        if pin in self._lines:  # requested again (another pin set up): keep this level
            self._lines[pin] = LineConfig(pin, Direction.OUTPUT, initial=level)

    def read(self, pin: int) -> bool:
        return bool(self._run(self.backend.get(pin)))

    def close(self) -> None:
        try:
            if self._open:
                self._run(self.backend.close())
        finally:
            self._open = False
            self._runner.close()


def open_backend(kind: str, *, chip: str = "/dev/gpiochip0", socket: str = "") -> BlockingGpio:
    """`gpiod`, `rpi`, `remote` (with `socket`) or `simulated`; GpioUnavailable otherwise."""
    try:
        backend = BackendKind(kind)
    except ValueError:
        choices = ", ".join(k.value for k in BackendKind)
        raise GpioUnavailable(kind, f"unknown backend; use one of {choices}") from None
    try:
        settings = GpioBusSettings("edgectl", backend, chip=chip, socket=socket)
    except ValueError as exc:
        raise GpioUnavailable(kind, str(exc)) from None
    return BlockingGpio(make_backend(settings))
