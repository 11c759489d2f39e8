"""libgpiod 2 backend (PyPI `gpiod` >= 2.1): any Linux board, every Raspberry Pi including the 5.

The module is imported when the backend is built, so a missing package is a clear
GpioUnavailable at start-up. Lines are requested once, all together, with the kernel doing
active-low and bias; input edges arrive on the request's file descriptor, which the event
loop watches (no polling thread). Opening the chip runs in a worker thread; get/set are
single ioctls of a few microseconds.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
from collections.abc import Sequence
from typing import Any

import structlog

from .backend import GpioListener
from .errors import GpioError, GpioLinkDown, GpioUnavailable
from .lines import LineConfig

log = structlog.get_logger("drivers.gpio")

DEFAULT_CHIP = "/dev/gpiochip0"


def import_gpiod() -> Any:
    """The `gpiod` module, or GpioUnavailable naming the package to install."""
    try:
        module = importlib.import_module("gpiod")
    except ImportError as exc:
        raise GpioUnavailable(
            "gpiod",
            "the Python package `gpiod` (libgpiod 2 bindings) is not installed: "
            "pip install 'edged[gpio]' (or 'gpiod>=2.1'), or configure another backend",
        ) from exc
    version = str(getattr(module, "__version__", "0"))
    if not hasattr(module, "LineSettings"):
        raise GpioUnavailable(
            "gpiod",
            f"`gpiod` {version} is the libgpiod 1 binding; install gpiod>=2.1 (pip install "
            "'gpiod>=2.1') instead of the distribution's python3-libgpiod 1.x",
        )
    return module


class GpiodBackend:
    def __init__(self, chip: str = DEFAULT_CHIP, *, consumer: str = "edged") -> None:
        self._gpiod = import_gpiod()
        self.chip = chip
        self.consumer = consumer
        self._request: Any = None
        self._configs: dict[int, LineConfig] = {}
        self._listener: GpioListener | None = None
        self._watching = False

    @property
    def label(self) -> str:
        return f"gpiod:{self.chip}"

    @property
    def connected(self) -> bool:
        return self._request is not None

    async def open(self, lines: Sequence[LineConfig], listener: GpioListener) -> None:
        self._configs = {c.line: c for c in lines}
        self._listener = listener
        try:
            self._request = await asyncio.to_thread(self._request_lines, list(lines))
        except OSError as exc:
            raise GpioUnavailable("gpiod", self._explain(exc, lines)) from exc
        if any(not c.is_output for c in lines):
            asyncio.get_running_loop().add_reader(self._request.fd, self._on_edges)
            self._watching = True
        log.info("gpio_lines_requested", chip=self.chip, lines=sorted(self._configs))

    def _request_lines(self, lines: list[LineConfig]) -> Any:
        g = self._gpiod
        line = g.line
        if not lines:  # nothing to request: still prove the chip is there
            with g.Chip(self.chip):
                return None
        bias = {"up": line.Bias.PULL_UP, "down": line.Bias.PULL_DOWN, "off": line.Bias.DISABLED}
        config: dict[int, Any] = {}
        for c in lines:
            if c.is_output:
                config[c.line] = g.LineSettings(
                    direction=line.Direction.OUTPUT,
                    active_low=c.active_low,
                    output_value=line.Value.ACTIVE if c.initial else line.Value.INACTIVE,
                )
            else:
                config[c.line] = g.LineSettings(
                    direction=line.Direction.INPUT,
                    active_low=c.active_low,
                    bias=bias[c.pull],
                    edge_detection=line.Edge.BOTH,
                )
        return g.request_lines(self.chip, config=config, consumer=self.consumer)

    def _explain(self, exc: OSError, lines: Sequence[LineConfig]) -> str:
        offsets = ", ".join(str(c.line) for c in lines)
        code = exc.errno
        if code == errno.ENOENT:
            return (
                f"no GPIO chip at {self.chip} ({exc.strerror}): list the chips with "
                "`ls /dev/gpiochip*` or `gpiodetect` and set the bus's `chip`; on a machine "
                "without GPIO use the remote backend with the simulator"
            )
        if code in (errno.EACCES, errno.EPERM):
            return (
                f"permission denied on {self.chip}: the service user needs group `gpio` "
                "(docs/install.md, section 6)"
            )
        if code == errno.EBUSY:
            return (
                f"line(s) {offsets} of {self.chip} are in use by another process "
                "(`gpioinfo` shows the consumer); stop it or pick free lines"
            )
        if code == errno.EINVAL:
            return f"line(s) {offsets} do not all exist on {self.chip} ({exc})"
        if code in (errno.ENODEV, errno.ENOTTY, errno.ENXIO):
            return f"{self.chip} is not a GPIO character device ({exc.strerror})"
        return f"{self.chip}: {exc}"

    def _on_edges(self) -> None:
        request, listener = self._request, self._listener
        if request is None or listener is None:
            return
        try:
            events = request.read_edge_events()
            for line in {e.line_offset for e in events}:
                listener.line_changed(line, bool(request.get_value(line)))
        except Exception:  # a listener bug must not unhook the reader
            log.exception("gpio_edge_failed", chip=self.chip)

    def _live(self, line: int) -> Any:
        if self._request is None:
            raise GpioLinkDown(self.label, "lines not requested (closed)")
        if line not in self._configs:
            raise GpioError(f"line {line} was not requested on {self.chip}")
        return self._request

    async def set(self, line: int, value: bool) -> None:
        request = self._live(line)
        v = self._gpiod.line.Value
        request.set_value(line, v.ACTIVE if value else v.INACTIVE)

    async def get(self, line: int) -> bool:
        return bool(self._live(line).get_value(line))

    async def close(self) -> None:
        request, self._request = self._request, None
        if request is None:
            return
        if self._watching:
            asyncio.get_running_loop().remove_reader(request.fd)
            self._watching = False
        request.release()
