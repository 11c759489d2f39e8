"""RPi.GPIO backend (also `rpi-lgpio` on a Pi 5), imported only when configured."""

from __future__ import annotations

import importlib
import platform
from typing import Any

from .backend import Pull
from .errors import GpioUnavailable


class RpiGpio:
    """BCM pin numbering. Raises GpioUnavailable at construction when it cannot run."""

    def __init__(self) -> None:
        try:
            gpio: Any = importlib.import_module("RPi.GPIO")
        except ModuleNotFoundError as exc:
            raise GpioUnavailable(
                "rpi",
                "the RPi.GPIO package is not installed: install the `rpi` extra "
                "(pip install 'edged[rpi]'; on a Pi 5 use rpi-lgpio), or use the simulated "
                "backend",
            ) from exc
        except RuntimeError as exc:  # RPi.GPIO refuses to import off a Pi
            raise GpioUnavailable(
                "rpi",
                f"this machine ({platform.machine()}, {platform.node()}) is not a Raspberry Pi "
                f"({exc}); configure the simulated GPIO backend here",
            ) from exc
        self._gpio = gpio
        gpio.setwarnings(False)
        gpio.setmode(gpio.BCM)

    def setup_output(self, pin: int, level: bool) -> None:
        self._gpio.setup(pin, self._gpio.OUT, initial=self._gpio.HIGH if level else self._gpio.LOW)

    def setup_input(self, pin: int, pull: Pull) -> None:
        pud = {"up": self._gpio.PUD_UP, "down": self._gpio.PUD_DOWN, "off": self._gpio.PUD_OFF}
        self._gpio.setup(pin, self._gpio.IN, pull_up_down=pud[pull])

    def write(self, pin: int, level: bool) -> None:
        self._gpio.output(pin, self._gpio.HIGH if level else self._gpio.LOW)

    def read(self, pin: int) -> bool:
        return bool(self._gpio.input(pin))

    def close(self) -> None:
        self._gpio.cleanup()
