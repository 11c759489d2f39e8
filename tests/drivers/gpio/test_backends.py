"""The hardware backends' error paths, for real on this machine (no GPIO chip, not a Pi),
and edgectl's blocking access."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.gpio import (
    BackendKind,
    GpioBus,
    GpioBusSettings,
    GpioDeviceSettings,
    GpioUnavailable,
    make_backend,
    open_backend,
)
from drivers.gpio.gpiod_backend import GpiodBackend
from drivers.gpio.lines import Direction, LineConfig
from edge.clock import SimClock

ROOT = Path(__file__).resolve().parents[3]
HAS_GPIOD = importlib.util.find_spec("gpiod") is not None
HAS_RPI = importlib.util.find_spec("RPi") is not None
RELAY = LineConfig(17, Direction.OUTPUT)


class _Nobody:
    def line_changed(self, line: int, value: bool) -> None:
        raise AssertionError("no line can change here")

    def link_changed(self, up: bool, reason: str) -> None:
        raise AssertionError("no link can change here")


def test_gpiod_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the gpiod module the default backend says what to install."""
    monkeypatch.setitem(sys.modules, "gpiod", None)  # import gpiod -> ImportError
    with pytest.raises(GpioUnavailable) as info:
        make_backend(GpioBusSettings("pins"))
    assert info.value.backend == "gpiod"
    assert "gpiod>=2.1" in str(info.value) and "edged[gpio]" in str(info.value)


@pytest.mark.skipif(not HAS_GPIOD, reason="the gpiod package is not installed")
@pytest.mark.skipif(Path("/dev/gpiochip0").exists(), reason="this machine has a GPIO chip")
async def test_gpiod_without_a_chip_is_a_clear_error_at_start() -> None:
    """The real gpiod binding finds no /dev/gpiochip0: the bus refuses to start, naming the
    chip and the way out."""
    settings = GpioBusSettings("pins", BackendKind.GPIOD, chip="/dev/gpiochip0")
    bus = GpioBus.from_settings(
        settings, [GpioDeviceSettings.relay("barrier", 17)], clock=SimClock(datetime.now(UTC))
    )
    with pytest.raises(GpioUnavailable) as info:
        async with bus:
            pytest.fail("started without a chip")
    text = str(info.value)
    assert "no GPIO chip at /dev/gpiochip0" in text and "gpiodetect" in text
    assert "remote backend" in text


@pytest.mark.skipif(not HAS_GPIOD, reason="the gpiod package is not installed")
async def test_gpiod_on_something_that_is_not_a_chip(tmp_path: Path) -> None:
    """A path that exists but is not a GPIO character device is named as such."""
    plain = tmp_path / "gpiochip9"
    plain.write_text("")
    for path in (str(plain), "/dev/null"):
        backend = GpiodBackend(path)
        with pytest.raises(GpioUnavailable, match="not a GPIO character device"):
            await backend.open([RELAY], _Nobody())
        assert backend.connected is False


@pytest.mark.skipif(not HAS_GPIOD, reason="the gpiod package is not installed")
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root")
def test_gpiod_permission_denied_names_the_gpio_group(tmp_path: Path) -> None:
    """A chip the service user may not open: the error points at group gpio."""
    chip = tmp_path / "gpiochip0"
    chip.write_text("")
    chip.chmod(0o000)
    tmp_path.chmod(0o755)
    code = (
        "import asyncio; from drivers.gpio.gpiod_backend import GpiodBackend;"
        "from drivers.gpio.lines import LineConfig, Direction;"
        f"asyncio.run(GpiodBackend({str(chip)!r}).open([LineConfig(17, Direction.OUTPUT)], None))"
    )
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    if "Permission denied" in out.stderr and "GpioUnavailable" not in out.stderr:
        pytest.skip(f"user nobody cannot run this venv: {out.stderr[-200:]}")
    assert "GpioUnavailable" in out.stderr, out.stderr
    assert "permission denied" in out.stderr and "group `gpio`" in out.stderr


def test_rpi_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without RPi.GPIO the rpi backend names the `rpi` extra and rpi-lgpio."""
    monkeypatch.setitem(sys.modules, "RPi", None)
    monkeypatch.delitem(sys.modules, "RPi.GPIO", raising=False)
    with pytest.raises(GpioUnavailable) as info:
        make_backend(GpioBusSettings("pins", BackendKind.RPI))
    assert info.value.backend == "rpi" and "edged[rpi]" in str(info.value)
    assert "rpi-lgpio" in str(info.value)


def _rpi_in_a_fresh_process(env: dict[str, str]) -> str:
    code = (
        "import asyncio\n"
        "from drivers.gpio import make_backend, GpioBusSettings, GpioUnavailable\n"
        "from drivers.gpio.lines import LineConfig, Direction\n"
        "async def main():\n"
        "    b = make_backend(GpioBusSettings('pins', 'rpi'))\n"
        "    await b.open([LineConfig(17, Direction.OUTPUT)], None)\n"
        "try:\n"
        "    asyncio.run(main())\n"
        "except GpioUnavailable as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RPI_LGPIO_REVISION"} | env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(not HAS_RPI, reason="neither RPi.GPIO nor rpi-lgpio is installed")
def test_rpi_off_a_pi_is_a_clear_error() -> None:
    """The real package refuses to import off a Pi: GpioUnavailable names the machine."""
    text = _rpi_in_a_fresh_process({})
    assert "GPIO backend 'rpi' unavailable" in text
    assert "is not a Raspberry Pi" in text and "gpiod backend" in text


@pytest.mark.skipif(
    importlib.util.find_spec("lgpio") is None, reason="rpi-lgpio (the Pi 5 shim) not installed"
)
def test_rpi_lgpio_told_it_is_a_pi_still_finds_no_chip() -> None:
    """rpi-lgpio with a forced Pi revision imports, then cannot open a gpiochip: the error
    comes at start, not as a traceback."""
    text = _rpi_in_a_fresh_process({"RPI_LGPIO_REVISION": "c04170"})
    assert "GPIO backend 'rpi' unavailable" in text and "gpiochip" in text


def test_blocking_access_for_edgectl() -> None:
    """edgectl's blocking wrapper pulses a simulated pin and refuses unknown backends."""
    gpio = open_backend("simulated")
    gpio.setup_output(17, False)
    gpio.write(17, True)
    assert gpio.read(17) is True
    gpio.setup_input(4, "up")  # a second line: requested again together
    assert gpio.read(4) is True and gpio.read(17) is True
    gpio.close()
    with pytest.raises(GpioUnavailable, match="unknown backend; use one of gpiod, rpi"):
        open_backend("banana")
    with pytest.raises(GpioUnavailable, match="needs `socket`"):
        open_backend("remote")
