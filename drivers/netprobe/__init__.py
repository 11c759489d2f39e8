"""Network device monitor: cameras, NVRs and terminals on Ethernet, probed for life.

Public surface (everything else is internal):

    devices = [NetDevice(name="cam-01", host="10.0.5.21", probe=ProbeKind.RTSP)]
    async with NetMonitor(devices, clock=clock, on_event=handle) as monitor:
        monitor.counts("camera")    # OnlineCounts(online, offline, unknown)

Events are the buses' own (`drivers.modbus.events`): `DeviceStatus` and
`PointUpdate(device, "online", bool, Quality.GOOD, ts)`. See docs/drivers.md,
"Network device monitor".
"""

from __future__ import annotations

from .monitor import ONLINE_POINT, DeviceHealth, NetMonitor, OnlineCounts
from .probes import Prober, ProbeResult, probe
from .settings import NetDevice, NetDeviceKind, ProbeKind
from .wire import ProtocolError

__all__ = [
    "ONLINE_POINT",
    "DeviceHealth",
    "NetDevice",
    "NetDeviceKind",
    "NetMonitor",
    "OnlineCounts",
    "ProbeKind",
    "ProbeResult",
    "Prober",
    "ProtocolError",
    "probe",
]
