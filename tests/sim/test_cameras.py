"""Real probes against simulated cameras on loopback, and 50 cameras watched by the monitor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from drivers.modbus.events import BusEvent, DeviceStatus
from drivers.netprobe import NetDevice, NetMonitor, OnlineCounts, ProbeKind, probe
from edge.clock import SimClock
from sim.cameras import SimCameras
from sim.errors import FaultError
from sim.venue import SimVenue
from tests.sim.conftest import MINIMAL, evening

CAMERA_TIME = datetime(2026, 7, 15, 10, 30, 5, tzinfo=UTC)
PORT_OF = {ProbeKind.RTSP: "rtsp", ProbeKind.HTTP: "http", ProbeKind.ONVIF: "onvif"}


def settings(cams: SimCameras, name: str, kind: ProbeKind, **kw: float) -> NetDevice:
    ep = cams.endpoint(name)
    service = PORT_OF.get(kind, "rtsp")
    return NetDevice(name=name, host=ep.host, probe=kind, port=ep.port(service), **kw)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def cams() -> AsyncIterator[SimCameras]:
    async with SimCameras(3, now=lambda: CAMERA_TIME) as c:
        yield c


@pytest.mark.parametrize("kind", list(ProbeKind))
async def test_each_probe_kind_finds_a_healthy_camera(cams: SimCameras, kind: ProbeKind) -> None:
    """TCP connect, RTSP OPTIONS, HTTP HEAD and ONVIF GetSystemDateAndTime all succeed."""
    result = await probe(settings(cams, "cam-01", kind))
    assert result.ok, result.detail
    assert result.device_time == (CAMERA_TIME if kind is ProbeKind.ONVIF else None)
    assert 0 < result.latency_s < 2.0


@pytest.mark.parametrize(
    ("kind", "wrong"),
    [
        (ProbeKind.RTSP, "RTSP/1.0 503 Service Unavailable"),
        (ProbeKind.HTTP, "HTTP/1.1 500 Internal Server Error"),
        (ProbeKind.ONVIF, "HTTP/1.1 500 Internal Server Error"),
    ],
)
async def test_faults_fail_probes_with_the_reason(
    cams: SimCameras, kind: ProbeKind, wrong: str
) -> None:
    """offline: refused; hung: the timeout; wrong: the device's own error; healed: fine."""
    device = settings(cams, "cam-02", kind, timeout_s=0.3)
    await cams.set_fault("cam-02", "offline", True)
    assert (await probe(device)).detail == "connection refused"
    await cams.set_fault("cam-02", "offline", False)  # the same ports again
    assert (await probe(device)).ok
    await cams.set_fault("cam-02", "hung", True)
    hung = await probe(device)
    assert not hung.ok and hung.detail == "no answer within 0.3 s"
    assert 0.25 < hung.latency_s < 1.5
    await cams.set_fault("cam-02", "hung", False)
    await cams.set_fault("cam-02", "wrong", True)
    assert (await probe(device)).detail == wrong
    await cams.heal("cam-02")
    assert (await probe(device)).ok
    assert (await probe(settings(cams, "cam-03", kind))).ok  # the others never noticed


async def test_a_hung_tcp_service_still_counts_as_listening(cams: SimCameras) -> None:
    """A plain TCP probe only checks that the port accepts; an offline camera refuses."""
    device = settings(cams, "cam-01", ProbeKind.TCP, timeout_s=0.3)
    await cams.set_fault("cam-01", "hung", True)
    assert (await probe(device)).ok
    await cams.set_fault("cam-01", "offline", True)
    assert (await probe(device)).detail == "connection refused"


async def test_fifty_cameras_one_goes_offline_within_its_threshold() -> None:
    """50 cameras behind the venue's fault injection: one offline -> DeviceStatus offline after
    `fail_after` failed probes, counts 49/1, nobody else touched; back online after healing."""
    venue_clock = SimClock(evening())
    async with SimVenue.from_config(MINIMAL, venue_clock, params=None, cameras=50) as venue:
        cams = venue.cameras
        assert cams is not None and len(cams.names) == 50
        kinds = list(ProbeKind)
        devices = [
            settings(cams, name, kinds[i % len(kinds)], interval_s=10.0, timeout_s=1.0)
            for i, name in enumerate(cams.names)
        ]
        # 10 s probes at 20x: every camera probed every 0.5 s of real time.
        clock = SimClock(evening(), rate=20.0)
        events: list[BusEvent] = []
        probes_of: dict[str, int] = {}
        async with NetMonitor(devices, clock=clock, on_event=events.append) as mon:
            await _until(lambda: mon.counts() == OnlineCounts(50, 0, 0))
            victim = "cam-07"
            before = mon.health(victim).probes
            done = await venue.fault("camera_offline", victim)
            assert done == "camera cam-07: offline on"
            await _until(lambda: mon.online(victim) is False)
            probes_of[victim] = mon.health(victim).probes - before
            offline = [e for e in events if isinstance(e, DeviceStatus) and not e.online]
            assert [e.device for e in offline] == [victim]
            assert offline[0].reason == "3 probes failed: connection refused"
            assert probes_of[victim] <= 3 + 1  # the threshold, plus one already under way
            assert mon.counts("camera") == OnlineCounts(49, 1, 0)
            await venue.fault("heal", victim)
            await _until(lambda: mon.online(victim) is True)
            assert mon.counts() == OnlineCounts(50, 0, 0)
        print(f"\ncam-07 offline after {probes_of[victim]} probes (fail_after 3)")
        with pytest.raises(FaultError, match="unknown camera 'cam-99'"):
            await venue.fault("camera_hung", "cam-99")


async def _until(cond: object, within_s: float = 15.0) -> None:
    assert callable(cond)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(0.02)
