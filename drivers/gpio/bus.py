"""A GPIO bus: relays and debounced inputs on one backend, shaped like `drivers.modbus.Bus`.

    async with GpioBus(backend, devices, name="pins", clock=clock, on_event=cb) as bus:
        result = await bus.write("barrier", "relay", True)     # WriteResult, read back

Why it is shaped this way:
- Same events as a Modbus bus (`PointUpdate`, `DeviceStatus`, `WriteResult`, `BusStats`),
  so the daemon registers it beside them and nothing above knows it is GPIO.
- Writes are level-triggered and verified: set the line, read it back from the chip.
- Inputs come pushed by the backend (kernel edges, the remote server) and are re-read every
  `poll_interval_s`; both feed one debouncer (a level counts once stable `debounce_s`).
  Values are reported by exception, plus every `heartbeat_s` unchanged.
- Safe state is off. Relays are requested off; a write of on whose caller is cancelled
  before it returns is undone; a write of off always completes; leaving the bus drives
  every relay off before the lines are released.
- A backend that loses its link (remote server down) puts every device offline with
  quality comm_fail; when it is back, every line is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import structlog

from drivers.clock import Clock, SystemClock
from drivers.modbus.codec import Value
from drivers.modbus.events import (
    BusEvent,
    BusStats,
    DeviceStatus,
    PointUpdate,
    Quality,
    WriteResult,
)

from .backend import GpioBackend
from .errors import BadValue, BusClosed, GpioError, PointNotWritable, UnknownPoint
from .settings import DeviceKind, GpioBusSettings, GpioDeviceSettings, make_backend

log = structlog.get_logger("drivers.gpio")

T = TypeVar("T")

SHUTDOWN_TIMEOUT_S = 2.0
"""At most this long to drive the relays off when the bus exits."""


@dataclass(slots=True)
class _Device:
    cfg: GpioDeviceSettings
    value: bool | None = None
    quality: Quality | None = None
    emitted_at: float = -math.inf
    online: bool | None = None
    reason: str = ""
    stable: bool | None = None  # inputs: the debounced value
    candidate: bool | None = None
    since: float = 0.0
    settle: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Listener:
    def __init__(self, bus: GpioBus) -> None:
        self._bus = bus

    def line_changed(self, line: int, value: bool) -> None:
        self._bus._line_changed(line, value)

    def link_changed(self, up: bool, reason: str) -> None:
        self._bus._link_changed(up, reason)


class GpioBus:
    """Relays and inputs of one GPIO backend. Use as `async with GpioBus(...) as bus:`.

    Events go to `on_event(event)` if given, else to the bounded `bus.events` queue (the
    oldest is dropped and counted in `stats.events_dropped` when nobody reads it).
    """

    def __init__(
        self,
        backend: GpioBackend,
        devices: Sequence[GpioDeviceSettings],
        *,
        name: str | None = None,
        clock: Clock | None = None,
        on_event: Callable[[BusEvent], None] | None = None,
        poll_interval_s: float = 1.0,
        event_queue_size: int = 10_000,
    ) -> None:
        names = [d.name for d in devices]
        lines = [d.line for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate GPIO device names on one bus: {sorted(names)}")
        if len(set(lines)) != len(lines):
            dup = sorted({x for x in lines if lines.count(x) > 1})
            raise ValueError(f"GPIO line(s) {dup} used by more than one device")
        self.backend = backend
        self.name = name or backend.label
        self.clock: Clock = clock or SystemClock()
        self.stats = BusStats()
        self.poll_interval_s = poll_interval_s
        self.poll_cycles = 0
        """Poll cycles run, connected or not: a liveness signal that keeps moving while a
        remote server is down (`stats.transactions` only moves while lines are reachable)."""
        self._configs = list(devices)
        self._on_event = on_event
        self._devices: dict[str, _Device] = {}
        self._by_line: dict[int, _Device] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._safety: set[asyncio.Task[None]] = set()
        self._running = False
        self._was_up = False
        self.events: asyncio.Queue[BusEvent] = asyncio.Queue(event_queue_size)

    @classmethod
    def from_settings(
        cls,
        settings: GpioBusSettings,
        devices: Sequence[GpioDeviceSettings],
        *,
        clock: Clock | None = None,
        on_event: Callable[[BusEvent], None] | None = None,
    ) -> GpioBus:
        """The bus a `GpioBusSettings` describes (GpioUnavailable when its package is missing)."""
        return cls(
            make_backend(settings),
            devices,
            name=settings.name,
            clock=clock,
            on_event=on_event,
            poll_interval_s=settings.poll_interval_s,
        )

    # ---- lifecycle ---------------------------------------------------------
    async def __aenter__(self) -> GpioBus:
        self._devices = {c.name: _Device(c) for c in self._configs}
        self._by_line = {d.cfg.line: d for d in self._devices.values()}
        self._running = True
        try:
            await self.backend.open([c.line_config for c in self._configs], _Listener(self))
        except BaseException:
            self._running = False
            raise
        if self.backend.connected:
            self._was_up = self.stats.connected = True
            await self._refresh_all()
        else:
            self._all_offline("not connected at start")
        self._spawn(self._poll_loop(), f"gpio:{self.name}:poll")
        log.info("gpio_bus_started", bus=self.name, backend=self.backend.label)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._running = False
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Shielded and bounded: a second cancellation must not leave a relay on.
        final = asyncio.create_task(self._shutdown(), name=f"gpio:{self.name}:shutdown")
        try:
            await asyncio.shield(final)
        except asyncio.CancelledError:
            await final
            raise

    async def _shutdown(self) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                if self._safety:
                    await asyncio.gather(*self._safety, return_exceptions=True)
                for dev in self._devices.values():
                    if dev.cfg.kind is DeviceKind.RELAY and self.backend.connected:
                        try:
                            await self.backend.set(dev.cfg.line, False)
                        except GpioError as exc:
                            log.warning(
                                "gpio_relay_not_released", device=dev.cfg.name, error=str(exc)
                            )
        except TimeoutError:
            log.error("gpio_shutdown_timeout", bus=self.name)
        finally:
            await self.backend.close()

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- public API --------------------------------------------------------
    @property
    def label(self) -> str:
        return self.backend.label

    @property
    def devices(self) -> list[str]:
        return [c.name for c in self._configs]

    def device_online(self, device: str) -> bool | None:
        """True/False once known, None before the first read or failure."""
        return self._device(device).online

    def snapshot(self) -> list[PointUpdate]:
        """The last emitted state of every point."""
        now = self.clock.now()
        return [
            PointUpdate(d.cfg.name, d.cfg.point, d.value, d.quality, now)
            for d in self._devices.values()
            if d.quality is not None
        ]

    async def write(self, device: str, point: str, value: Value) -> WriteResult:
        """Drive a relay on/off and read the line back.

        Raises UnknownPoint, PointNotWritable (an input), BadValue (not on/off) before
        touching the line; GpioLinkDown / GpioRefused when the backend cannot do it.
        """
        dev = self._device(device)
        if point != dev.cfg.point:
            raise UnknownPoint(device, point)
        if dev.cfg.kind is not DeviceKind.RELAY:
            raise PointNotWritable(device, point)
        on = _on_off(device, point, value)
        if not self._running:
            raise BusClosed(f"GPIO bus {self.name} is not running")
        op = asyncio.ensure_future(self._apply(dev, on))
        try:
            readback = await asyncio.shield(op)
        except asyncio.CancelledError:
            if on:  # the caller never learnt the relay is on: do not leave it so
                self._undo(dev, op)
            raise
        verified = readback == on
        quality = Quality.GOOD if verified else Quality.UNCERTAIN
        if not verified:
            log.warning("gpio_write_not_verified", device=device, asked=on, read=readback)
        self._publish(dev, readback, quality)
        return WriteResult(device, point, value, readback, verified, quality, self.clock.now())

    async def read(self, device: str, point: str) -> PointUpdate:
        """Read one point now (inputs: the debounced value after this reading)."""
        dev = self._device(device)
        if point != dev.cfg.point:
            raise UnknownPoint(device, point)
        await self._read(dev)
        value = dev.value if dev.cfg.kind is DeviceKind.RELAY else dev.stable
        return PointUpdate(device, point, value, Quality.GOOD, self.clock.now())

    # ---- internals ---------------------------------------------------------
    def _device(self, name: str) -> _Device:
        if not self._devices:
            raise BusClosed(f"GPIO bus {self.name} is not running")
        try:
            return self._devices[name]
        except KeyError:
            raise UnknownPoint(name) from None

    async def _timed(self, dev: _Device, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        self.stats.transactions += 1
        try:
            result = await call
        except GpioError:
            self.stats.errors += 1
            name = dev.cfg.name
            self.stats.per_device_errors[name] = self.stats.per_device_errors.get(name, 0) + 1
            raise
        took = time.perf_counter() - started
        self.stats.latency_total_s += took
        self.stats.latency_max_s = max(self.stats.latency_max_s, took)
        return result

    async def _apply(self, dev: _Device, on: bool) -> bool:
        async with dev.lock:
            await self._timed(dev, self.backend.set(dev.cfg.line, on))
            readback = await self._timed(dev, self.backend.get(dev.cfg.line))
        self._set_online(dev)
        return readback

    def _undo(self, dev: _Device, op: asyncio.Future[bool]) -> None:
        async def off() -> None:
            with contextlib.suppress(Exception):
                await op
            try:
                readback = await self._apply(dev, False)
                self._publish(dev, readback, Quality.GOOD)
                log.warning("gpio_relay_reverted", device=dev.cfg.name, reason="write cancelled")
            except GpioError as exc:
                log.error("gpio_relay_revert_failed", device=dev.cfg.name, error=str(exc))

        task = asyncio.create_task(off(), name=f"gpio:{dev.cfg.name}:undo")
        self._safety.add(task)
        task.add_done_callback(self._safety.discard)

    async def _read(self, dev: _Device) -> None:
        value = await self._timed(dev, self.backend.get(dev.cfg.line))
        self._set_online(dev)
        if dev.cfg.kind is DeviceKind.RELAY:
            self._publish(dev, value, Quality.GOOD)
        else:
            self._observe(dev, value)
            self._publish(dev, dev.stable, Quality.GOOD)

    async def _refresh_all(self) -> None:
        for dev in self._devices.values():
            if not self.backend.connected:
                return
            try:
                await self._read(dev)
            except GpioError as exc:
                self._set_offline(dev, str(exc))

    async def _poll_loop(self) -> None:
        next_due = self.clock.monotonic()
        while True:
            next_due += self.poll_interval_s
            now = self.clock.monotonic()
            next_due = max(next_due, now)  # late: do not burst to catch up
            await self.clock.sleep(next_due - now)
            self.poll_cycles += 1
            try:
                if self.backend.connected:
                    await self._refresh_all()
            except Exception:  # polling must never stop silently
                log.exception("gpio_poll_failed", bus=self.name)

    # Inputs: one debouncer fed by pushed changes and by polls.
    def _line_changed(self, line: int, value: bool) -> None:
        dev = self._by_line.get(line)
        if dev is not None and dev.cfg.kind is DeviceKind.INPUT and self._running:
            self._observe(dev, value)

    def _observe(self, dev: _Device, level: bool) -> None:
        now = self.clock.monotonic()
        if dev.stable is None:  # the first reading is the state, not a change
            dev.stable = dev.candidate = level
            dev.since = now
            return
        if level != dev.candidate:
            dev.candidate, dev.since = level, now
        if dev.candidate == dev.stable:
            return  # a bounce that came back: the settle task finds nothing to do
        if now - dev.since >= dev.cfg.debounce_s:
            self._commit(dev)
        elif dev.settle is None or dev.settle.done():
            dev.settle = self._spawn(self._settle(dev), f"gpio:{dev.cfg.name}:debounce")

    async def _settle(self, dev: _Device) -> None:
        while dev.candidate != dev.stable:
            wait = dev.since + dev.cfg.debounce_s - self.clock.monotonic()
            if wait <= 0:
                self._commit(dev)
                return
            await self.clock.sleep(wait)

    def _commit(self, dev: _Device) -> None:
        dev.stable = dev.candidate
        if dev.online:
            self._publish(dev, dev.stable, Quality.GOOD)

    # Link and device state.
    def _link_changed(self, up: bool, reason: str) -> None:
        self.stats.connected = up
        if not self._running:
            return
        if not up:
            self._all_offline(reason)
            return
        if not self._was_up:
            self._was_up = True
        else:
            self.stats.reconnects += 1
        self._spawn(self._refresh_all(), f"gpio:{self.name}:refresh")

    def _all_offline(self, reason: str) -> None:
        for dev in self._devices.values():
            self._set_offline(dev, reason)

    def _set_online(self, dev: _Device) -> None:
        if dev.online is not True:
            if dev.online is False:
                log.info("device_recovered", device=dev.cfg.name, bus=self.name)
            dev.online, dev.reason = True, ""
            self._emit(DeviceStatus(dev.cfg.name, True, self.clock.now()))

    def _set_offline(self, dev: _Device, reason: str) -> None:
        if dev.online is not False:
            log.warning("device_offline", device=dev.cfg.name, bus=self.name, reason=reason)
            dev.online, dev.reason = False, reason
            self._emit(DeviceStatus(dev.cfg.name, False, self.clock.now(), reason))
        self._publish(dev, dev.value, Quality.COMM_FAIL)

    def _publish(self, dev: _Device, value: bool | None, quality: Quality) -> None:
        now = self.clock.monotonic()
        same = quality is dev.quality and value is dev.value
        if same and now - dev.emitted_at < dev.cfg.heartbeat_s:
            return
        dev.value, dev.quality, dev.emitted_at = value, quality, now
        self._emit(PointUpdate(dev.cfg.name, dev.cfg.point, value, quality, self.clock.now()))

    def _emit(self, event: BusEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("event_callback_failed", bus=self.name)
            return
        if self.events.full():
            self.events.get_nowait()
            self.stats.events_dropped += 1
        self.events.put_nowait(event)


def _on_off(device: str, point: str, value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise BadValue(device, point, value)
