"""What to watch: one `NetDevice` per camera, NVR or terminal, decoded once and frozen.

A msgspec struct, so the venue config can embed it (or `msgspec.convert` a table into
it) and every mistake comes back as a ValidationError naming the field, e.g.
`fail_after must be 1..100 - at $.network[3]`.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class ProbeKind(StrEnum):
    """How a device is asked whether it is alive."""

    TCP = "tcp"
    """Connect to `port` and close: the service listens."""
    RTSP = "rtsp"
    """`OPTIONS rtsp://host:port/path RTSP/1.0`: the stream server answers `RTSP/1.0 200`."""
    HTTP = "http"
    """`HEAD path HTTP/1.1`: the web server answers (any status below 500; 401 is normal)."""
    ONVIF = "onvif"
    """SOAP `GetSystemDateAndTime` (no credentials needed): the ONVIF service answers."""


class NetDeviceKind(StrEnum):
    """What the device is: decides the role of its `online` point."""

    CAMERA = "camera"
    NVR = "nvr"
    TERMINAL = "terminal"
    OTHER = "other"


DEFAULT_PORT = {ProbeKind.RTSP: 554, ProbeKind.HTTP: 80, ProbeKind.ONVIF: 80}
DEFAULT_PATH = {ProbeKind.ONVIF: "/onvif/device_service"}


class NetDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One probed device.

    Offline after `fail_after` consecutive failed probes, online again after one
    success; a probe fails when it gets no complete answer within `timeout_s` (connect
    included) or the answer is wrong. `report_every_s` re-sends the `online` point
    while nothing changes (as the buses' `report_every`).
    """

    name: str
    host: str
    probe: ProbeKind = ProbeKind.RTSP
    kind: NetDeviceKind = NetDeviceKind.CAMERA
    port: int | None = None
    """Default: 554 for rtsp, 80 for http and onvif; required for tcp."""
    path: str | None = None
    """Default: `/` (`/onvif/device_service` for onvif)."""
    interval_s: float = 10.0
    timeout_s: float = 2.0
    fail_after: int = 3
    report_every_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name {self.name!r} must be letters, digits, '-' and '_'")
        bad_host = not self.host or any(c in self.host for c in " /\\\r\n\t@?#")
        if bad_host or len(self.host) > 253:
            raise ValueError(f"host {self.host!r} must be a host name or an IP address")
        if self.probe is ProbeKind.TCP and self.port is None:
            raise ValueError("a tcp probe needs `port`")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} must be 1..65535")
        if self.path is not None and (
            not self.path.startswith("/") or any(c.isspace() for c in self.path)
        ):
            raise ValueError(f"path {self.path!r} must start with '/' and hold no spaces")
        if self.path is not None and self.probe is ProbeKind.TCP:
            raise ValueError("a tcp probe takes no `path`")
        if not 1.0 <= self.interval_s <= 3600.0:
            raise ValueError("interval_s must be 1..3600 seconds")
        if not 0.1 <= self.timeout_s <= 60.0 or self.timeout_s >= self.interval_s:
            raise ValueError("timeout_s must be 0.1..60 seconds and shorter than interval_s")
        if not 1 <= self.fail_after <= 100:
            raise ValueError("fail_after must be 1..100 consecutive failures")
        if not 1.0 <= self.report_every_s <= 86400.0:
            raise ValueError("report_every_s must be 1..86400 seconds")

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return DEFAULT_PORT[self.probe]  # tcp always has a port (checked above)

    @property
    def effective_path(self) -> str:
        return self.path if self.path is not None else DEFAULT_PATH.get(self.probe, "/")

    @property
    def role(self) -> str:
        """The role of this device's `online` point (drivers.roles)."""
        match self.kind:
            case NetDeviceKind.CAMERA:
                return "camera.online"
            case NetDeviceKind.NVR:
                return "nvr.online"
            case NetDeviceKind.TERMINAL:
                return "terminal.online"
            case NetDeviceKind.OTHER:
                return "network.online"
