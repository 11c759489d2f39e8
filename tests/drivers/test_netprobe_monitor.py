"""The monitor's state machine on a stepped clock: hours of probing in milliseconds.

Probes here are scripted outcomes (a plain function, not a socket); the real probes
against simulated cameras on loopback are in tests/sim/test_cameras.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality
from drivers.netprobe import NetDevice, NetDeviceKind, NetMonitor, ProbeResult
from edge.clock import SimClock

START = datetime(2026, 7, 15, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class Script:
    """Decides each probe's outcome by device name; records when each probe ran."""

    def __init__(self, clock: SimClock, ok: Callable[[str, int], bool] | None = None) -> None:
        self.clock = clock
        self.ok = ok or (lambda _name, _n: True)
        self.calls: dict[str, list[float]] = {}

    async def __call__(self, device: NetDevice) -> ProbeResult:
        times = self.calls.setdefault(device.name, [])
        times.append(self.clock.monotonic())
        if self.ok(device.name, len(times)):
            return ProbeResult(True, 0.001)
        return ProbeResult(False, 0.001, "connection refused")


def statuses(events: list[BusEvent], name: str) -> list[tuple[bool, str]]:
    return [
        (e.online, e.reason) for e in events if isinstance(e, DeviceStatus) and e.device == name
    ]


def cam(name: str, **kw: object) -> NetDevice:
    return NetDevice(name=name, host="10.0.5.1", **kw)  # type: ignore[arg-type]


async def test_offline_after_threshold_online_after_one_success() -> None:
    """3 failures in a row: offline once; one success: online; a lone failure changes nothing."""
    clock = SimClock(START)
    down = set(range(3, 6)) | set(range(8, 20))  # probes 3-5 and 8-19 fail

    script = Script(clock, lambda _n, i: i not in down)
    events: list[BusEvent] = []
    device = cam("cam-01", report_every_s=3600.0)  # no periodic re-sends in this test
    async with NetMonitor([device], clock=clock, on_event=events.append, prober=script):
        await clock.advance(0)
        assert statuses(events, "cam-01") == [(True, "")]
        await clock.advance(10 * 6)  # probes 2..7: three failures, then a success
        assert statuses(events, "cam-01") == [
            (True, ""),
            (False, "3 probes failed: connection refused"),
            (True, ""),
        ]
        await clock.advance(10 * 12)  # probes 8..19 fail: offline once, not twelve times
        assert [s for s, _ in statuses(events, "cam-01")] == [True, False, True, False]
    points = [e for e in events if isinstance(e, PointUpdate)]
    assert [p.value for p in points] == [True, False, True, False]
    assert all(p.point == "online" and p.quality is Quality.GOOD for p in points)
    offline = [e for e in events if isinstance(e, DeviceStatus) and not e.online]
    assert offline[0].ts == START.replace(second=40)  # probes at 20, 30, 40 s failed


async def test_unknown_until_first_verdict_and_counts_by_kind() -> None:
    """A device is unknown until a success or `fail_after` failures; counts per kind."""
    clock = SimClock(START)
    dead = {"cam-02", "nvr-1"}
    script = Script(clock, lambda name, _i: name not in dead)
    devices = [
        cam("cam-01"),
        cam("cam-02", fail_after=2),
        cam("nvr-1", kind=NetDeviceKind.NVR, fail_after=5),
    ]
    events: list[BusEvent] = []
    async with NetMonitor(devices, clock=clock, on_event=events.append, prober=script) as mon:
        await clock.advance(10)
        assert mon.online("cam-01") is True and mon.online("cam-02") is None
        assert mon.counts("camera").unknown == 1 and mon.counts("nvr").unknown == 1
        await clock.advance(10)
        assert mon.online("cam-02") is False
        assert mon.counts("camera") == mon.counts("camera").__class__(1, 1, 0)
        await clock.advance(30)
        assert mon.online("nvr-1") is False
        assert mon.counts() == mon.counts().__class__(1, 2, 0)
        health = mon.health("cam-02")
        assert health.consecutive_failures == health.failures == health.probes >= 5
        assert health.last_detail == "connection refused"
        assert {u.device for u in mon.snapshot()} == {"cam-01", "cam-02", "nvr-1"}
        with pytest.raises(KeyError, match="unknown network device 'cam-9'"):
            mon.online("cam-9")


async def test_probes_are_spread_and_keep_their_interval() -> None:
    """50 cameras at 10 s: first probes spread over the interval, then exactly every 10 s."""
    clock = SimClock(START)
    script = Script(clock)
    devices = [cam(f"cam-{i:02d}") for i in range(50)]
    async with NetMonitor(devices, clock=clock, on_event=lambda e: None, prober=script):
        await clock.advance(3600)
    firsts = sorted(times[0] for times in script.calls.values())
    assert firsts[0] == 0.0 and firsts[-1] < 10.0
    assert min(b - a for a, b in itertools.pairwise(firsts)) == pytest.approx(0.2)
    for times in script.calls.values():
        assert len(times) in (360, 361)
        gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
        assert gaps == {10.0}


async def test_online_point_is_re_sent_every_report_interval() -> None:
    """Nothing changes for 5 minutes: the online point goes out again every report_every_s."""
    clock = SimClock(START)
    events: list[BusEvent] = []
    device = cam("cam-01", report_every_s=60.0)
    async with NetMonitor([device], clock=clock, on_event=events.append, prober=Script(clock)):
        await clock.advance(300)
    points = [e for e in events if isinstance(e, PointUpdate)]
    assert len(points) == 6 and all(p.value is True for p in points)
    assert len([e for e in events if isinstance(e, DeviceStatus)]) == 1


async def test_a_crashing_probe_or_listener_does_not_stop_monitoring() -> None:
    """A prober bug counts as a failed probe; a listener that raises is logged and skipped."""
    clock = SimClock(START)
    calls = 0

    async def broken(device: NetDevice) -> ProbeResult:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug")

    def bad_listener(event: BusEvent) -> None:
        raise ValueError("listener bug")

    device = cam("cam-01", fail_after=2)
    async with NetMonitor([device], clock=clock, on_event=bad_listener, prober=broken) as mon:
        await clock.advance(60)
        assert calls == 7 and mon.online("cam-01") is False
        assert mon.health("cam-01").last_detail == "probe crashed: RuntimeError"


def test_duplicate_device_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate network device names: \\['cam-01'\\]"):
        NetMonitor([cam("cam-01"), cam("cam-01")], on_event=lambda e: None)
