"""GPIO: relays (levels, active-low, defaults, pulses) and debounced inputs on a stepped clock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.gpio import (
    Gpio,
    GpioUnavailable,
    InputEdge,
    InputSpec,
    RelaySpec,
    SimulatedGpio,
    UnknownChannel,
    open_backend,
)
from edge.clock import SimClock

T0 = datetime(2026, 5, 1, 19, 0, tzinfo=UTC)


async def test_relay_levels_active_low_and_defaults() -> None:
    """Default levels are set at start and restored at exit; active-low inverts the pin."""
    hw = SimulatedGpio()
    clock = SimClock(T0)
    relays = [RelaySpec("lights", 17), RelaySpec("gate", 27, active_low=True, default_on=False)]
    async with Gpio(hw, relays, clock=clock) as gpio:
        assert hw.level(17) is False and hw.level(27) is True  # gate off = high (active low)
        gpio.set_relay("gate", True)
        assert hw.level(27) is False and gpio.relay_on("gate")
        gpio.set_relay("lights", True)
        assert hw.level(17) is True
        with pytest.raises(UnknownChannel):
            gpio.set_relay("nope", True)
    assert hw.level(17) is False and hw.level(27) is True and hw.closed


async def test_pulse_ends_off_and_restarts() -> None:
    """A pulse turns the relay off after its time; a second pulse restarts the timer."""
    hw = SimulatedGpio()
    clock = SimClock(T0)
    async with Gpio(hw, [RelaySpec("gate", 5)], clock=clock) as gpio:
        gpio.pulse("gate", 3.0)
        assert hw.level(5) is True
        await clock.advance(2.0)
        gpio.pulse("gate", 3.0)
        await clock.advance(2.0)
        assert hw.level(5) is True  # 4 s after the first pulse, 2 s into the second
        await clock.advance(1.5)
        assert hw.level(5) is False
        gpio.pulse("gate", 3.0)
        gpio.set_relay("gate", True)  # manual override cancels the pulse
        await clock.advance(5.0)
        assert hw.level(5) is True
        with pytest.raises(ValueError):
            gpio.pulse("gate", 0)


async def test_debounced_input_edges() -> None:
    """Bounces shorter than debounce_s are ignored; a stable change gives one edge."""
    hw = SimulatedGpio()
    clock = SimClock(T0)
    edges: list[InputEdge] = []
    door = InputSpec("door", 22, active_low=True, pull="up", debounce_s=0.05)
    async with Gpio(hw, [], [door], clock=clock, on_edge=edges.append) as gpio:
        assert gpio.input_active("door") is False  # pulled up: contact open
        for _ in range(5):  # chatter: 20 ms low, 10 ms high
            hw.set_input(22, False)
            await clock.advance(0.02)
            hw.set_input(22, True)
            await clock.advance(0.01)
        assert edges == []
        hw.set_input(22, False)
        await clock.advance(0.1)
        assert [(e.name, e.active) for e in edges] == [("door", True)]
        assert gpio.input_active("door") is True
        hw.set_input(22, True)
        await clock.advance(0.1)
        assert [e.active for e in edges] == [True, False]


def test_rpi_backend_missing_package_is_clear() -> None:
    """Without RPi.GPIO installed, configuring it names the `rpi` extra."""
    if "RPi" in sys.modules or any((Path(p) / "RPi").exists() for p in sys.path if p):
        pytest.skip("RPi.GPIO present")
    with pytest.raises(GpioUnavailable) as info:
        open_backend("rpi")
    assert "rpi" in str(info.value) and info.value.backend == "rpi"


def test_rpi_backend_off_a_pi_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RPi.GPIO's off-a-Pi import error becomes GpioUnavailable naming the machine."""
    pkg = tmp_path / "RPi"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    # What the real package does on a non-Pi (see FIELD-NOTES).
    (pkg / "GPIO.py").write_text(
        'raise RuntimeError("This module can only be run on a Raspberry Pi!")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("RPi", "RPi.GPIO"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    with pytest.raises(GpioUnavailable) as info:
        open_backend("rpi")
    assert "not a Raspberry Pi" in str(info.value)
    with pytest.raises(GpioUnavailable, match="unknown backend"):
        open_backend("banana")
