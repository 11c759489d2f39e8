"""System detectors: maintenance due, outbox fill, storage errors, clock sync."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from drivers.modbus.events import BusEvent, PointUpdate
from edge.alarms.config import AlarmsConfig, MaintenanceLimit
from edge.alarms.field import READABLE, Report
from edge.libc import libc

CounterSnapshot = Callable[[], Mapping[str, Mapping[str, float]]]
"""output -> {"run_hours": h, "cycles": n} (edge.counters.Counters.snapshot)."""
OutboxFill = Callable[[], tuple[int, int]]
"""(depth, bound) of the uplink outbox."""
ClockSynced = Callable[[], bool | None]
"""True synchronised, False not, None unknown."""


class LinkAuth(Protocol):
    """What the uplink's link state says about credentials (edge.uplink.link.LinkState)."""

    @property
    def auth_failure(self) -> str | None: ...


class MaintenanceDetector:
    """`maintenance_due` per output (from the counters) and per device reporting its own
    `run_hours` point, against the per-device limit or its profile's default."""

    def __init__(
        self,
        report: Report,
        counters: CounterSnapshot | None,
        profiles: dict[str, str],
        zones: dict[str, str | None],
        cfg: AlarmsConfig,
    ) -> None:
        self._report = report
        self._counters = counters
        self._profiles = profiles
        self._zones = zones
        self._cfg = cfg

    def limit(self, device: str) -> MaintenanceLimit | None:
        own = self._cfg.maintenance.get(device)
        if own is not None:
            return own
        return self._cfg.maintenance_default.get(self._profiles.get(device, ""))

    def tick(self) -> None:
        if self._counters is None:
            return
        for output, c in self._counters().items():
            device = output.partition(".")[0]
            self._judge(output, device, c.get("run_hours"), c.get("cycles"))

    def on_event(self, event: BusEvent) -> None:
        if (
            isinstance(event, PointUpdate)
            and event.point == "run_hours"
            and event.device in self._profiles
            and event.quality in READABLE
            and isinstance(event.value, int | float)
        ):
            self._judge(f"{event.device}.run_hours", event.device, float(event.value), None)

    def _judge(self, source: str, device: str, hours: float | None, cycles: float | None) -> None:
        lim = self.limit(device)
        if lim is None:
            return
        why = []
        if lim.run_hours is not None and hours is not None and hours >= lim.run_hours:
            why.append(f"{hours:.0f} h run (limit {lim.run_hours:g})")
        if lim.cycles is not None and cycles is not None and cycles >= lim.cycles:
            why.append(f"{cycles:.0f} switch cycles (limit {lim.cycles})")
        message = f"{source}: " + ("; ".join(why) if why else "within limits")
        self._report("maintenance_due", source, bool(why), message,
                     device=device, zone=self._zones.get(device))  # fmt: skip


class OutboxDetector:
    def __init__(self, report: Report, fill: OutboxFill, cfg: AlarmsConfig) -> None:
        self._report = report
        self._fill = fill
        self._ratio = cfg.outbox_high_ratio

    def tick(self) -> None:
        depth, bound = self._fill()
        ratio = depth / bound if bound > 0 else 1.0
        active = ratio > self._ratio
        self._report(
            "outbox_high", "uplink", active,
            f"outbox holds {depth} of {bound} messages ({ratio:.0%}); "
            + ("the uplink is not draining" if active else "draining"),
        )  # fmt: skip


class LinkAuthDetector:
    """`uplink_auth` while the broker refuses the gateway's credentials."""

    def __init__(self, report: Report, link: LinkAuth) -> None:
        self._report = report
        self._link = link

    def tick(self) -> None:
        failure = self._link.auth_failure
        self._report(
            "uplink_auth", "uplink", failure is not None,
            f"broker refused the gateway's credentials: {failure}" if failure
            else "broker accepts the gateway's credentials",
        )  # fmt: skip


class ClockSyncDetector:
    def __init__(self, report: Report, synced: ClockSynced) -> None:
        self._report = report
        self._synced = synced

    def tick(self) -> None:
        state = self._synced()
        if state is None:
            return
        self._report(
            "clock_unsynced", "system", not state,
            "system clock synchronised" if state
            else "system clock not synchronised (check NTP / timedatectl)",
        )  # fmt: skip


TIME_ERROR = 5
"""adjtimex() return value when the kernel clock is not synchronised."""


@functools.cache
def _adjtimex() -> Callable[[Any], int] | None:
    """libc's adjtimex, looked up once; ctypes is loaded then, not at start: only the real
    clock asks the kernel."""
    call: Callable[[Any], int] | None = getattr(libc(), "adjtimex", None)
    return call


def kernel_clock_synced() -> bool | None:
    """The kernel's NTP state via adjtimex(2) (read-only, modes = 0); None if unavailable."""
    import ctypes

    adjtimex = _adjtimex()
    if adjtimex is None:
        return None
    buf = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes=0 reads only
    try:
        rc = int(adjtimex(buf))
    except OSError:
        return None
    if rc < 0:
        return None
    return rc != TIME_ERROR


def storage_problem(report: Report, source: str, detail: str | None) -> None:
    """Storage failed (`detail` says how) or recovered (`detail` None) for `source`."""
    report(
        "storage_error", source, detail is not None,
        f"{source}: {detail}" if detail is not None else f"{source}: writes succeed again",
    )  # fmt: skip
