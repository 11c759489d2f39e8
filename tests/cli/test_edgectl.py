"""edgectl as a subprocess against a running edged: every command, for people and scripts."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.venue import Venue, running_venue


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[Venue]:
    async with running_venue(tmp_path) as v:
        yield v


async def ctl(v: Venue, *args: str) -> tuple[int, str, str]:
    out = await asyncio.to_thread(v.edgectl, *args)
    return out.returncode, out.stdout, out.stderr


async def ctl_json(v: Venue, *args: str) -> object:
    code, out, err = await ctl(v, "--json", *args)
    assert code == 0, err
    return json.loads(out)


async def test_every_read_command_human_and_json(venue: Venue) -> None:
    """status, devices, points, read, explain, bookings, journal, emergency: both outputs."""
    for args, needle in [
        (["status"], "cli-venue/gw-1"),
        (["devices"], "lights-a"),
        (["points", "--device", "hvac-a"], "hvac-a.setpoint"),
        (["read", "lights-a.ch5_on"], "lights-a.ch5_on"),
        (["explain", "lights-a.ch5_on"], "level: default"),
        (["bookings"], "bookings"),
        (["journal"], "journal"),
        (["emergency", "status"], "active: False"),
        (["ping"], "pong"),
    ]:
        code, out, err = await ctl(venue, *args)
        assert code == 0, (args, err)
        assert needle in out, (args, out)
        parsed = await ctl_json(venue, *args)
        assert parsed is not None
    status = await ctl_json(venue, "status")
    assert isinstance(status, dict)
    assert status["devices_online"] == 3 and status["buses"]["tcp-1"]["connected"] is True


async def test_write_override_and_release(venue: Venue) -> None:
    """write --for drives the output through the reconciler; release returns it; both journaled."""
    result = await ctl_json(venue, "write", "lights-a.ch5_on", "on", "--for", "30m")
    assert isinstance(result, dict) and result["value"] is True
    for _ in range(100):
        if venue.lights.get_coils(4, 1) == [True]:
            break
        await asyncio.sleep(0.05)
    assert venue.lights.get_coils(4, 1) == [True]
    why = await ctl_json(venue, "explain", "lights-a.ch5_on")
    assert isinstance(why, dict)
    assert why["level"] == "manual" and why["until"] is not None
    assert why["until"].endswith("+08:00")  # the venue's local time, as on site
    await ctl_json(venue, "release", "lights-a.ch5_on")
    for _ in range(100):
        if venue.lights.get_coils(4, 1) == [False]:
            break
        await asyncio.sleep(0.05)
    assert venue.lights.get_coils(4, 1) == [False]
    trail = await ctl_json(venue, "journal", "--device", "lights-a")
    assert isinstance(trail, list)
    kinds = [(e["kind"], e["actor_kind"], e["actor"]) for e in trail]
    user = getpass.getuser()  # from the socket's peer credentials, not from the request
    assert ("operation", "technician", user) in kinds
    # The write the override caused names its issuer too, as fields.
    assert ("write", "technician", user) in kinds


async def test_new_technician_mistakes(venue: Venue) -> None:
    """A wrong point name and a forgotten --for: clear errors that say what to do next."""
    code, _, err = await ctl(venue, "read", "lights-a.ch5_onn")
    assert code == 1
    assert "unknown point 'lights-a.ch5_onn'" in err and "did you mean lights-a.ch5_on" in err
    code, _, err = await ctl(venue, "write", "lights-a.ch5_on", "on")
    assert code == 2
    assert "--for 30m" in err and "needs an expiry" in err
    code, _, err = await ctl(venue, "write", "lights-a.ch5_on", "bright", "--for", "10m")
    assert code == 2 and "on/off, true/false or a number" in err
    code, _, err = await ctl(venue, "write", "lights-a.ch5_on", "on", "--for", "10 minutes")
    assert code == 2 and "30m, 2h" in err
    code, _, err = await ctl(venue, "write", "hvac-a.room_temp", "20", "--for", "10m")
    assert code == 1 and "not an output the gateway drives" in err
    code, _, err = await ctl(venue, "journal", "--since", "yesterday")
    assert code == 1 and "ISO 8601" in err
    assert venue.lights.get_coils(4, 1) == [False]  # nothing changed


async def test_emergency_reset_refused_then_done(venue: Venue) -> None:
    """During a fire alarm reset is refused with what to do; after the panel clears it works."""
    venue.panel.set_discrete(0, [True])
    for _ in range(100):
        if venue.lights.get_coils(4, 1) == [True]:
            break
        await asyncio.sleep(0.05)
    st = await ctl_json(venue, "emergency", "status")
    assert isinstance(st, dict) and st["active"] is True
    code, _, err = await ctl(venue, "emergency", "reset")
    assert code == 1 and "clear it at the panel" in err
    venue.panel.set_discrete(0, [False])
    await asyncio.sleep(0.6)
    done = await ctl_json(venue, "emergency", "reset")
    assert isinstance(done, dict) and done["reset"] is True


async def test_lamp_failure_alarm_and_ack(venue: Venue) -> None:
    """A light commanded on without lamp feedback raises an alarm; ack is journaled."""
    await ctl_json(venue, "write", "lights-a.ch5_on", "on", "--for", "10m")
    alarms: object = []
    for _ in range(100):
        alarms = await ctl_json(venue, "alarms")
        if alarms:
            break
        await asyncio.sleep(0.1)
    assert isinstance(alarms, list) and alarms, "no alarm raised"
    lamp = next(a for a in alarms if a["cls"] == "lamp_failure")
    code, out, _ = await ctl(venue, "alarms")
    assert code == 0 and lamp["alarm_id"] in out
    code, _, err = await ctl(venue, "alarms", "ack", "lamp_failure:nowhere")
    assert code == 1 and "did you mean" in err
    acked = await ctl_json(venue, "alarms", "ack", lamp["alarm_id"])
    assert isinstance(acked, dict) and acked["state"] in ("acked", "acknowledged")
    trail = await ctl_json(venue, "journal", "--kind", "alarm")
    assert isinstance(trail, list) and any(e["actor"] == getpass.getuser() for e in trail)
    counters = await ctl_json(venue, "counters")
    assert isinstance(counters, dict) and "lights-a.ch5_on" in counters
    code, _, err = await ctl(venue, "counters", "reset", "lights-a.ch55_on")
    assert code == 1 and "no counters for 'lights-a.ch55_on'" in err and "did you mean" in err
    code, _, err = await ctl(venue, "counters", "reset")
    assert code == 2 and "which output?" in err
    reset = await ctl_json(venue, "counters", "reset", "lights-a.ch5_on")
    assert isinstance(reset, dict) and reset["reset"] is True
    after = await ctl_json(venue, "counters")
    assert isinstance(after, dict) and after["lights-a.ch5_on"]["cycles"] == 0
    trail = await ctl_json(venue, "journal", "--device", "lights-a", "--kind", "operation")
    assert isinstance(trail, list)
    assert any(e["body"].get("op") == "reset_counters" for e in trail)


def test_daemon_not_running(tmp_path: Path) -> None:
    """No daemon: exit 3 and a message naming systemctl and journalctl."""
    import subprocess
    import sys

    from tests.cli.venue import ENV

    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(tmp_path), "status"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 3
    assert "edged is not running" in out.stderr and "journalctl -u edged" in out.stderr


def test_config_check_offline(tmp_path: Path) -> None:
    """config check works without a daemon and reports every problem with exit 78."""
    import subprocess
    import sys

    from tests.cli.venue import ENV

    bad = tmp_path / "venue.toml"
    bad.write_text('[site]\nid = "x"\ngateway = "g"\ntimezone = "Mars/Base"\n[[zones]]\nid="z"\n')
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "config", "check", str(bad)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 78
    assert "zones[0].kind: missing required key" in out.stderr


async def test_actions_and_their_journal(venue: Venue) -> None:
    """reload, energy, outbox and access answer; each says what it needs when it cannot."""
    result = await ctl_json(venue, "reload")
    assert isinstance(result, dict) and result["reloaded"] is True
    assert result["config_version"] == 2
    code, _, err = await ctl(venue, "energy")
    assert code == 1 and "--booking ID, or --zone ZONE --day YYYY-MM-DD" in err
    code, _, err = await ctl(venue, "energy", "--booking", "nope")
    assert code == 1 and "no energy recorded for booking 'nope'" in err
    day = await ctl_json(venue, "energy", "--zone", "court-5", "--day", "2026-11-21")
    assert isinstance(day, dict) and day["zone"] == "court-5"
    code, out, _ = await ctl(venue, "outbox")
    assert code == 0 and "depth" in out
    code, _, err = await ctl(venue, "gate", "open", "main")
    assert code == 1 and "unknown gate 'main'" in err and "[[access.gates]]" in err
    code, out, _ = await ctl(venue, "access")
    assert code == 0 and "access decisions" in out
    trail = await ctl_json(venue, "journal", "--kind", "operation")
    assert isinstance(trail, list)
    reloads = [e for e in trail if e["body"]["op"] == "reload"]
    assert reloads and reloads[0]["actor"] == getpass.getuser() and reloads[0]["body"]["ok"]
    refused = [e for e in trail if e["body"]["op"] == "open_gate"]
    assert refused and refused[0]["body"]["code"] == "unknown_gate"


def test_hung_daemon_times_out(tmp_path: Path) -> None:
    """A daemon that accepts but never answers: exit 3 within --timeout, saying what to check."""
    import socket
    import subprocess
    import sys

    from tests.cli.venue import ENV

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "edged.sock"))
    server.listen(1)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli.main",
            "--runtime-dir",
            str(tmp_path),
            "--timeout",
            "1",
            "status",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    server.close()
    assert out.returncode == 3
    assert "did not answer within 1 s" in out.stderr and "journalctl -u edged" in out.stderr


def test_shell_completion_lists_commands() -> None:
    """`edgectl completion` prints a bash script that knows the commands and options."""
    import subprocess
    import sys

    from tests.cli.venue import ENV

    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "completion"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0
    assert "complete -F _edgectl edgectl" in out.stdout
    assert "explain" in out.stdout and "--for" in out.stdout


async def test_safe_shutdown_switches_off(tmp_path: Path) -> None:
    """With `on_shutdown = "safe"`, SIGTERM leaves lights off; the default holds them."""
    from tests.cli.venue import CONFIG

    safe = CONFIG.replace(
        'timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\non_shutdown = "safe"'
    )
    async with running_venue(tmp_path, config=safe) as venue:
        await ctl_json(venue, "write", "lights-a.ch5_on", "on", "--for", "10m")
        for _ in range(100):
            if venue.lights.get_coils(4, 1) == [True]:
                break
            await asyncio.sleep(0.05)
        assert venue.lights.get_coils(4, 1) == [True]
        venue.proc.send_signal(__import__("signal").SIGTERM)
        for _ in range(100):
            if venue.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert venue.proc.returncode == 0
        assert venue.lights.get_coils(4, 1) == [False]


async def test_default_shutdown_holds(venue: Venue) -> None:
    """`on_shutdown = "hold"` (the default): outputs stay as they are when edged stops."""
    await ctl_json(venue, "write", "lights-a.ch5_on", "on", "--for", "10m")
    for _ in range(100):
        if venue.lights.get_coils(4, 1) == [True]:
            break
        await asyncio.sleep(0.05)
    venue.proc.send_signal(__import__("signal").SIGTERM)
    for _ in range(100):
        if venue.proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    assert venue.proc.returncode == 0
    assert venue.lights.get_coils(4, 1) == [True]
