"""`edge-sim` as a user runs it: run + fault over the control socket, and a short demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.clock import SimClock
from sim.control import request, serve_control
from sim.venue import SimVenue

from .conftest import MINIMAL, ROOT


def edge_sim(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def running_sim(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    sock = tmp_path / "sim.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "run",
            "--config",
            str(MINIMAL),
            "--rate",
            "10",
            "--socket",
            str(sock),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "stop with Ctrl-C" in line:
                break
        else:
            pytest.fail(f"edge-sim run did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield proc, sock
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_fault_command_against_a_running_simulator(
    running_sim: tuple[subprocess.Popen[str], Path],
) -> None:
    """A good fault exits 0 and says what it did; a bad target exits 2 listing valid choices."""
    proc, sock = running_sim
    ok = edge_sim("fault", "--socket", str(sock), "lamp_failure", "lights-1", "channel=2")
    assert ok.returncode == 0, ok.stderr
    assert "lamp failure on channel 2 on" in ok.stdout
    bad = edge_sim("fault", "--socket", str(sock), "door_held", "lights-1")
    assert bad.returncode == 2
    assert "valid choices: gate-1" in bad.stderr
    truth = edge_sim("truth", "--socket", str(sock))
    assert truth.returncode == 0 and '"failed": [\n' in truth.stdout
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert not sock.exists()


def test_fault_command_without_a_simulator_says_how_to_start_one(tmp_path: Path) -> None:
    """No simulator on the socket: exit 1 and a hint."""
    res = edge_sim("fault", "--socket", str(tmp_path / "none.sock"), "offline", "x")
    assert res.returncode == 1
    assert "edge-sim run" in res.stderr


def test_fault_list_names_every_kind() -> None:
    """`edge-sim fault --list` prints the catalogue."""
    res = edge_sim("fault", "--list")
    assert res.returncode == 0
    for kind in (
        "offline",
        "slow",
        "garbage",
        "link_drop",
        "lamp_failure",
        "door_forced",
        "door_held",
        "fire_alarm",
        "meter_reset",
        "meter_rollover",
        "broker_stop",
    ):
        assert kind in res.stdout


async def test_control_socket_in_process(tmp_path: Path, clock: SimClock) -> None:
    """The control socket answers faults, scans, truth and refuses unknown ops with choices."""
    venue = SimVenue.from_config(MINIMAL, clock)
    async with venue, serve_control(venue, tmp_path / "c.sock") as sock:
        r = await request(sock, {"op": "fault", "kind": "fire_alarm", "target": "fire-1"})
        assert r == {"ok": True, "result": "fire-1: alarm on"}
        r = await request(sock, {"op": "bogus"})
        assert not r["ok"] and "scan" in r["choices"]
        r = await request(sock, {"op": "fault", "kind": "offline", "target": "nope"})
        assert not r["ok"] and "lights-1" in r["choices"]
        r = await request(sock, {"op": "truth"})
        assert r["result"]["devices"]["fire-1"]["alarm"] is True
        for bad in (
            {"op": "fault", "kind": "offline", "target": ["lights-1"]},
            {"op": "fault", "kind": "slow", "target": "lights-1", "params": {"seconds": []}},
            {"op": "fault", "kind": "offline", "target": "lights-1", "params": [1]},
            {"op": "occupancy", "zone": "hall", "people": "many"},
            {"op": "occupancy", "zone": "hall", "people": [1]},
            {"op": "scan", "reader": None, "payload": 5},
        ):
            r = await request(sock, bad)
            assert r["ok"] is False and r["error"], bad
        assert (await request(sock, {"op": "ping"}))["result"] == "pong"


def test_demo_smoke_run_prints_an_honest_timeline(tmp_path: Path) -> None:
    """A short demo exits 0, shows the booking, the scan and a summary of what was seen."""
    res = edge_sim(
        "demo",
        "--rate",
        "900",
        "--start",
        "2026-07-15T18:40:00+08:00",
        "--duration",
        "10",
        "--workdir",
        str(tmp_path / "w"),
        timeout=90,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "booking B-07151900-court-a3 published" in out
    assert "edged started" in out
    assert "scans QR pass" in out
    assert "Summary (what the simulated devices and the cloud emulator saw)" in out
    assert "ground truth" in out


def test_demo_timeline_reports_what_a_working_daemon_does(tmp_path: Path) -> None:
    """A scripted daemon drives the outputs: the timeline shows them, the summary says yes."""
    res = edge_sim(
        "demo",
        "--rate",
        "900",
        "--until",
        "21:14",
        "--workdir",
        str(tmp_path / "w"),
        "--edged-cmd",
        f"{sys.executable} {ROOT / 'tests' / 'sim' / 'scripted_edged.py'}",
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "edged wrote ahu-a1: setpoint=25.0" in out
    assert "ahu-a1 running, setpoint 25.0 C" in out
    assert "edged wrote lights-a3: ch1_on=on, ch2_on=on, ch3_on=on, ch4_on=on" in out
    assert "lights ON on court-a3: 4/4 channels lit, 1.6 kW" in out
    assert "lights OFF on court-a3" in out
    assert "[yes] court lights on at 18:5" in out
    assert "[yes] court lights off at 21:1" in out
    kwh = float(out.split("energy, meter-a3 (court-a3 lighting), ground truth: ")[1].split()[0])
    assert kwh == pytest.approx(1.6 * (2 + 15 / 60), rel=0.02)  # 18:55-21:10 at 1.6 kW
