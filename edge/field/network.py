"""Network devices (cameras, NVRs, terminals) as a daemon component.

Each `[[buses]] kind = "network"` runs one `drivers.netprobe.NetMonitor`: every device is
probed on its interval (TCP connect, RTSP OPTIONS, HTTP HEAD or ONVIF), and reported like
any field device: online/offline (the `comm_lost` alarm) and an `online` point (counts
for the twin, by role `camera.online`, `nvr.online`...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from drivers.clock import Clock
from edge.config.model import NetworkBus, VenueConfig
from edge.field.points import PointTable
from edge.liveness import Liveness
from edge.profiles import NETWORK_PROFILES

if TYPE_CHECKING:  # the probes are imported only by a venue with network devices
    from drivers.netprobe import NetDevice


def network_buses(cfg: VenueConfig) -> list[NetworkBus]:
    return [b for b in cfg.buses if isinstance(b, NetworkBus)]


def network_devices(cfg: VenueConfig, b: NetworkBus) -> list[NetDevice]:
    from drivers.netprobe import NetDevice
    from drivers.netprobe.settings import NetDeviceKind, ProbeKind

    out = []
    for d in cfg.devices:
        kind = NETWORK_PROFILES.get(d.profile)
        if d.bus != b.id or kind is None or d.host is None:
            continue
        out.append(
            NetDevice(
                name=d.id,
                host=d.host,
                probe=ProbeKind(d.probe or kind.probe),
                kind=NetDeviceKind(kind.monitor_kind),
                port=d.port,
                path=d.path,
                interval_s=b.interval_s,
                timeout_s=min(b.timeout_s, b.interval_s / 2),
                fail_after=b.fail_after,
                report_every_s=max(d.report_every, b.interval_s),
            )
        )
    return out


class NetworkComponent:
    def __init__(
        self,
        bus: NetworkBus,
        devices: list[NetDevice],
        clock: Clock,
        points: PointTable,
        liveness: Liveness,
    ) -> None:
        self.name = f"bus:{bus.id}"
        self._bus = bus
        self._devices = devices
        self._clock = clock
        self._points = points
        self._liveness = liveness

    async def run(self, ready: Callable[[], None]) -> None:
        from drivers.netprobe import NetMonitor

        async with NetMonitor(
            self._devices,
            on_event=self._points.publish,
            clock=self._clock,
            max_concurrent=self._bus.max_concurrent,
        ):
            ready()
            await asyncio.Event().wait()
