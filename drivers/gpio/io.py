"""Relays and debounced inputs behind one interface, on any backend.

Inputs are sampled every `scan_s` (a Pi's GPIO read is a memory access; polling
keeps the same code for every backend and makes debouncing explicit): a level
counts only once it has been stable for the input's `debounce_s`.
Relays take logical on/off; `active_low` flips the electrical level. A pulse
always ends with the relay off, even if the task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

import structlog

from .backend import GpioBackend, Pull
from .errors import UnknownChannel

log = structlog.get_logger("drivers.gpio")


class _Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class RelaySpec:
    """A relay output. `default_on`: the state set at start (and restored on exit)."""

    name: str
    pin: int
    active_low: bool = False
    default_on: bool = False


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A contact input. `active_low`: a closed contact pulls the pin low (pull-up wiring)."""

    name: str
    pin: int
    active_low: bool = True
    pull: Pull = "up"
    debounce_s: float = 0.05


@dataclass(frozen=True, slots=True)
class InputEdge:
    """A debounced input changed: `active` is the logical state (contact closed)."""

    name: str
    active: bool
    ts: datetime


@dataclass(slots=True)
class _InputState:
    spec: InputSpec
    stable: bool
    candidate: bool
    since: float


class Gpio:
    """`async with Gpio(backend, relays, inputs, clock=..., on_edge=cb) as gpio:`"""

    def __init__(
        self,
        backend: GpioBackend,
        relays: Sequence[RelaySpec] = (),
        inputs: Sequence[InputSpec] = (),
        *,
        clock: _Clock,
        on_edge: Callable[[InputEdge], None] | None = None,
        scan_s: float = 0.01,
    ) -> None:
        names = [r.name for r in relays] + [i.name for i in inputs]
        pins = [r.pin for r in relays] + [i.pin for i in inputs]
        if len(set(names)) != len(names) or len(set(pins)) != len(pins):
            raise ValueError("GPIO relay/input names and pins must be unique")
        self._backend = backend
        self._relays = {r.name: r for r in relays}
        self._inputs_spec = list(inputs)
        self._clock = clock
        self._on_edge = on_edge
        self._scan_s = scan_s
        self._relay_state: dict[str, bool] = {}
        self._inputs: dict[str, _InputState] = {}
        self._pulses: dict[str, asyncio.Task[None]] = {}
        self._scanner: asyncio.Task[None] | None = None
        self.edges: asyncio.Queue[InputEdge] = asyncio.Queue(1000)

    async def __aenter__(self) -> Gpio:
        for r in self._relays.values():
            self._backend.setup_output(r.pin, r.default_on != r.active_low)
            self._relay_state[r.name] = r.default_on
        now = self._clock.monotonic()
        for i in self._inputs_spec:
            self._backend.setup_input(i.pin, i.pull)
            level = self._logical(i, self._backend.read(i.pin))
            self._inputs[i.name] = _InputState(i, level, level, now)
        self._scanner = asyncio.create_task(self._scan(), name="gpio-scan")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = [*self._pulses.values(), *([self._scanner] if self._scanner else [])]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for r in self._relays.values():
            self._drive(r, r.default_on)
        self._backend.close()

    # ---- relays -------------------------------------------------------------
    def _relay(self, name: str) -> RelaySpec:
        try:
            return self._relays[name]
        except KeyError:
            raise UnknownChannel(name) from None

    def _drive(self, relay: RelaySpec, on: bool) -> None:
        self._backend.write(relay.pin, on != relay.active_low)
        self._relay_state[relay.name] = on

    def relay_on(self, name: str) -> bool:
        return self._relay_state[self._relay(name).name]

    def set_relay(self, name: str, on: bool) -> None:
        """Switch a relay (cancels a pulse in progress)."""
        relay = self._relay(name)
        pulse = self._pulses.pop(name, None)
        if pulse is not None:
            pulse.cancel()
        self._drive(relay, on)

    def pulse(self, name: str, seconds: float) -> asyncio.Task[None]:
        """Relay on for `seconds`, then off; a new pulse restarts the time."""
        if not 0 < seconds <= 3600:
            raise ValueError(f"pulse of {seconds} s: must be 0..3600 s")
        relay = self._relay(name)
        old = self._pulses.pop(name, None)
        if old is not None:
            old.cancel()
        self._drive(relay, True)

        async def run() -> None:
            try:
                await self._clock.sleep(seconds)
            finally:
                # Only the current pulse ends itself; a replaced one leaves the relay alone.
                if self._pulses.get(name) is task:
                    self._drive(relay, False)
                    del self._pulses[name]

        task = asyncio.create_task(run(), name=f"gpio-pulse-{name}")
        self._pulses[name] = task
        return task

    # ---- inputs -------------------------------------------------------------
    @staticmethod
    def _logical(spec: InputSpec, level: bool) -> bool:
        return level != spec.active_low

    def input_active(self, name: str) -> bool:
        """The debounced logical state of an input."""
        try:
            return self._inputs[name].stable
        except KeyError:
            raise UnknownChannel(name) from None

    def _emit(self, edge: InputEdge) -> None:
        if self._on_edge is not None:
            self._on_edge(edge)
            return
        if self.edges.full():
            self.edges.get_nowait()
        self.edges.put_nowait(edge)

    def scan_once(self) -> None:
        now = self._clock.monotonic()
        for st in self._inputs.values():
            level = self._logical(st.spec, self._backend.read(st.spec.pin))
            if level != st.candidate:
                st.candidate, st.since = level, now
            if st.candidate != st.stable and now - st.since >= st.spec.debounce_s:
                st.stable = st.candidate
                self._emit(InputEdge(st.spec.name, st.stable, self._clock.now()))

    async def _scan(self) -> None:
        while True:
            try:
                self.scan_once()
            except Exception:
                log.exception("gpio_scan_failed")
            await self._clock.sleep(self._scan_s)
