"""The network device monitor: is every camera, NVR and terminal answering?

    async with NetMonitor(devices, clock=clock, on_event=handle) as monitor:
        monitor.online("cam-01")        # True / False / None (not known yet)

Why it is shaped this way:
- It speaks the buses' language: `DeviceStatus(device, online, ts, reason)` on every
  transition and `PointUpdate(device, "online", bool, good, ts)` on every transition
  and every `report_every_s`, so the point table, alarms (`comm_lost`) and the uplink
  treat a camera like any field device.
- One small task per device (a sleep, a probe, a sleep): at 50 cameras every 10 s that
  is five short TCP exchanges a second. Start times are spread over the interval so
  the probes do not come in bursts, and a semaphore bounds how many run at once.
- Offline after `fail_after` consecutive failures (one lost SYN is not an outage),
  online after a single success. Transitions are logged once, repeats at debug.
- Every task catches everything but cancellation: monitoring cannot silently stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

import structlog

from ..clock import Clock, SystemClock
from ..modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from .probes import Prober, ProbeResult, probe
from .settings import NetDevice

log = structlog.get_logger("drivers.netprobe")

ONLINE_POINT = "online"


@dataclass(slots=True)
class DeviceHealth:
    """What the monitor knows of one device (for `edgectl status`)."""

    online: bool | None = None
    consecutive_failures: int = 0
    probes: int = 0
    failures: int = 0
    last_detail: str = ""
    """Why the last probe failed ("" after a success)."""
    last_latency_s: float | None = None
    emitted_at: float | None = None


@dataclass(frozen=True, slots=True)
class OnlineCounts:
    """Devices online / offline / not known yet (for the twin's summary)."""

    online: int
    offline: int
    unknown: int


class NetMonitor:
    """Probes every device on its own interval; see the module docstring."""

    def __init__(
        self,
        devices: Sequence[NetDevice],
        *,
        on_event: Callable[[BusEvent], None],
        clock: Clock | None = None,
        max_concurrent: int = 32,
        prober: Prober = probe,
    ) -> None:
        names = [d.name for d in devices]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate network device names: {dupes}")
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.devices = {d.name: d for d in devices}
        self.clock: Clock = clock or SystemClock()
        self._on_event = on_event
        self._prober = prober
        self._max_concurrent = max_concurrent
        self._health = {d.name: DeviceHealth() for d in devices}
        self._tasks: list[asyncio.Task[None]] = []

    # ---- lifecycle ---------------------------------------------------------
    async def __aenter__(self) -> NetMonitor:
        self._sem = asyncio.Semaphore(self._max_concurrent)
        n = len(self.devices)
        for i, dev in enumerate(self.devices.values()):
            offset = dev.interval_s * i / n  # spread the first probes over one interval
            self._tasks.append(
                asyncio.create_task(self._watch(dev, offset), name=f"netprobe:{dev.name}")
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for t in self._tasks:
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # ---- public API --------------------------------------------------------
    def online(self, name: str) -> bool | None:
        return self._health_of(name).online

    def health(self, name: str) -> DeviceHealth:
        return dataclasses.replace(self._health_of(name))

    def counts(self, kind: str | None = None) -> OnlineCounts:
        """Online/offline/unknown devices, of one kind (`camera`, `nvr`...) when given."""
        states = [
            self._health[d.name].online
            for d in self.devices.values()
            if kind is None or d.kind == kind
        ]
        return OnlineCounts(
            online=sum(s is True for s in states),
            offline=sum(s is False for s in states),
            unknown=sum(s is None for s in states),
        )

    def snapshot(self) -> list[PointUpdate]:
        """The `online` point of every device whose state is known."""
        now = self.clock.now()
        return [
            PointUpdate(name, ONLINE_POINT, h.online, Quality.GOOD, now)
            for name, h in self._health.items()
            if h.online is not None
        ]

    async def probe_now(self, name: str) -> ProbeResult:
        """Probe one device now (a technician's check); the result counts like any probe."""
        dev = self.devices.get(name)
        if dev is None:
            raise KeyError(f"unknown network device {name!r}; known: {sorted(self.devices)}")
        result = await self._run(dev)
        self._record(dev, result)
        return result

    # ---- internals ---------------------------------------------------------
    def _health_of(self, name: str) -> DeviceHealth:
        try:
            return self._health[name]
        except KeyError:
            raise KeyError(f"unknown network device {name!r}") from None

    async def _watch(self, dev: NetDevice, offset: float) -> None:
        await self.clock.sleep(offset)
        next_due = self.clock.monotonic()
        while True:
            try:
                self._record(dev, await self._run(dev))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("probe_cycle_failed", device=dev.name)
            next_due += dev.interval_s
            now = self.clock.monotonic()
            if next_due < now:
                next_due = now  # late (a slow probe, a busy loop): do not burst
            await self.clock.sleep(next_due - now)

    async def _run(self, dev: NetDevice) -> ProbeResult:
        async with self._sem:
            try:
                return await self._prober(dev)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a prober bug counts as a failed probe, loudly
                log.exception("probe_crashed", device=dev.name)
                return ProbeResult(False, 0.0, f"probe crashed: {type(exc).__name__}")

    def _record(self, dev: NetDevice, result: ProbeResult) -> None:
        h = self._health[dev.name]
        h.probes += 1
        h.last_latency_s = result.latency_s
        if result.ok:
            h.consecutive_failures = 0
            h.last_detail = ""
            if h.online is not True:
                if h.online is False:
                    log.info("network_device_recovered", device=dev.name)
                self._transition(dev, h, True, "")
                return
        else:
            h.failures += 1
            h.consecutive_failures += 1
            h.last_detail = result.detail
            if h.online is not False and h.consecutive_failures >= dev.fail_after:
                reason = f"{h.consecutive_failures} probes failed: {result.detail}"
                log.warning("network_device_offline", device=dev.name, reason=reason)
                self._transition(dev, h, False, reason)
                return
            log.debug("probe_failed", device=dev.name, detail=result.detail)
        now = self.clock.monotonic()
        due = h.emitted_at is not None and now - h.emitted_at >= dev.report_every_s
        if h.online is not None and due:
            h.emitted_at = now
            ts = self.clock.now()
            self._emit(PointUpdate(dev.name, ONLINE_POINT, h.online, Quality.GOOD, ts))

    def _transition(self, dev: NetDevice, h: DeviceHealth, online: bool, reason: str) -> None:
        h.online = online
        h.emitted_at = self.clock.monotonic()
        ts = self.clock.now()
        self._emit(DeviceStatus(dev.name, online, ts, reason))
        self._emit(PointUpdate(dev.name, ONLINE_POINT, online, Quality.GOOD, ts))

    def _emit(self, event: BusEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("event_callback_failed", source="netprobe")
