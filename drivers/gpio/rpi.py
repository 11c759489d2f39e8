"""RPi.GPIO backend (or `rpi-lgpio`, its drop-in for the Pi 5), imported only when configured.

BCM numbering. RPi.GPIO refuses to import off a Pi; rpi-lgpio imports and then cannot open
a gpiochip: both become GpioUnavailable naming the machine and the fix. Set-up runs in a
worker thread; reads and writes are memory or ioctl accesses of microseconds. Inputs are
scanned every `scan_s` (RPi.GPIO's edge callbacks run on its own thread; scanning keeps the
event loop the only caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import platform
from collections.abc import Sequence
from typing import Any

import structlog

from .backend import GpioListener
from .errors import GpioError, GpioLinkDown, GpioUnavailable
from .lines import LineConfig

log = structlog.get_logger("drivers.gpio")


def _not_a_pi(exc: BaseException) -> str:
    return (
        f"this machine ({platform.machine()}, {platform.node()}) is not a Raspberry Pi or "
        f"has no GPIO chip ({type(exc).__name__}: {exc}); use the gpiod backend on other "
        "boards, or the remote backend with the simulator"
    )


def import_rpi() -> Any:
    try:
        return importlib.import_module("RPi.GPIO")
    except ModuleNotFoundError as exc:
        raise GpioUnavailable(
            "rpi",
            "the RPi.GPIO package is not installed: install the `rpi` extra "
            "(pip install 'edged[rpi]'; on a Pi 5 use rpi-lgpio), or use the gpiod backend",
        ) from exc
    except RuntimeError as exc:  # "This module can only be run on a Raspberry Pi!"
        raise GpioUnavailable("rpi", _not_a_pi(exc)) from exc


class RpiBackend:
    def __init__(self, *, scan_s: float = 0.01) -> None:
        self._gpio = import_rpi()
        self._scan_s = scan_s
        self._configs: dict[int, LineConfig] = {}
        self._open = False
        self._scanner: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        return "rpi:bcm"

    @property
    def connected(self) -> bool:
        return self._open

    async def open(self, lines: Sequence[LineConfig], listener: GpioListener) -> None:
        self._configs = {c.line: c for c in lines}
        try:
            await asyncio.to_thread(self._setup, list(lines))
        except Exception as exc:  # RuntimeError, lgpio.error ("can not open gpiochip")...
            raise GpioUnavailable("rpi", _not_a_pi(exc)) from exc
        self._open = True
        inputs = [c for c in lines if not c.is_output]
        if inputs:
            self._scanner = asyncio.create_task(self._scan(inputs, listener), name="gpio-rpi-scan")

    def _setup(self, lines: list[LineConfig]) -> None:
        g = self._gpio
        g.setwarnings(False)
        g.setmode(g.BCM)
        pud = {"up": g.PUD_UP, "down": g.PUD_DOWN, "off": g.PUD_OFF}
        for c in lines:
            if c.is_output:
                g.setup(c.line, g.OUT, initial=g.HIGH if c.level(c.initial) else g.LOW)
            else:
                g.setup(c.line, g.IN, pull_up_down=pud[c.pull])

    async def _scan(self, inputs: list[LineConfig], listener: GpioListener) -> None:
        last: dict[int, bool] = {}
        while True:
            for c in inputs:
                try:
                    value = c.level(bool(self._gpio.input(c.line)))
                    if last.get(c.line) != value:
                        last[c.line] = value
                        listener.line_changed(c.line, value)
                except Exception:
                    log.exception("gpio_scan_failed", line=c.line)
            await asyncio.sleep(self._scan_s)

    def _config(self, line: int) -> LineConfig:
        if not self._open:
            raise GpioLinkDown(self.label, "lines not set up (closed)")
        try:
            return self._configs[line]
        except KeyError:
            raise GpioError(f"line {line} was not set up") from None

    async def set(self, line: int, value: bool) -> None:
        c = self._config(line)
        g = self._gpio
        g.output(line, g.HIGH if c.level(value) else g.LOW)

    async def get(self, line: int) -> bool:
        c = self._config(line)
        return c.level(bool(self._gpio.input(line)))

    async def close(self) -> None:
        if self._scanner is not None:
            self._scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scanner
            self._scanner = None
        if self._open:
            self._open = False
            await asyncio.to_thread(self._gpio.cleanup, list(self._configs))
