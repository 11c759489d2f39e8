"""The unit's supervision settings add up: hangs and crashes restart, crash loops back off.

No systemd runs as PID 1 here, so this reads the unit (time spans parsed by systemd-analyze
itself) and replays a crash loop on paper with the same rules systemd applies.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.unitfile import COOLDOWN_UNIT, UNIT, read_unit, timespan_seconds, tool

ANALYZE = tool("systemd-analyze")
pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)
DAEMON_STOP_BUDGET_S = 5.0  # edged's own SIGTERM budget (issue 2)
EX_CONFIG = "78"


def seconds(section: str, key: str, unit: str = "edged") -> float:
    """A time-span setting of the unit, in seconds."""
    assert ANALYZE is not None
    parsed = read_unit(UNIT if unit == "edged" else COOLDOWN_UNIT)
    return timespan_seconds(ANALYZE, parsed.one(section, key))


def crash_loop_starts(
    restart_s: float, burst: int, interval_s: float, horizon_s: float
) -> list[float]:
    """Start times systemd allows for a daemon that dies at once, until the rate limit trips."""
    starts: list[float] = []
    t = 0.0
    while t <= horizon_s:
        recent = [s for s in starts if t - s < interval_s]
        if len(recent) >= burst:
            break  # start-limit-hit: the unit becomes "failed"
        starts.append(t)
        t += restart_s
    return starts


def test_notify_and_watchdog_are_configured() -> None:
    """Type=notify with main-process-only notify access and a watchdog of at least 10 s."""
    unit = read_unit(UNIT)
    assert unit.one("Service", "Type") == "notify"
    assert unit.one("Service", "NotifyAccess") == "main"
    watchdog = seconds("Service", "WatchdogSec")
    print(f"\nWatchdogSec={watchdog:g}s: daemon pings every {watchdog / 2:g}s")
    assert watchdog >= 10.0  # pings at half the interval must survive an SD-card stall


def test_hangs_and_crashes_restart_but_a_bad_config_does_not() -> None:
    """Restart=on-failure (covers watchdog timeouts and signals) and exit 78 is not retried."""
    unit = read_unit(UNIT)
    assert unit.one("Service", "Restart") == "on-failure"
    assert seconds("Service", "RestartSec") > 0
    assert EX_CONFIG in unit.one("Service", "RestartPreventExitStatus").split()


def test_stop_timeout_exceeds_daemon_budget() -> None:
    """systemd waits longer than the daemon's own 5 s shutdown before it sends SIGKILL."""
    assert seconds("Service", "TimeoutStopSec") > DAEMON_STOP_BUDGET_S


def test_crash_loop_is_rate_limited() -> None:
    """A daemon that dies at once is started StartLimitBurst times, then the unit fails."""
    unit = read_unit(UNIT)
    restart = seconds("Service", "RestartSec")
    interval = seconds("Unit", "StartLimitIntervalSec")
    burst = int(unit.one("Unit", "StartLimitBurst"))
    starts = crash_loop_starts(restart, burst, interval, horizon_s=interval)
    print(
        f"\ncrash loop: starts at {starts} s, then start-limit-hit at {len(starts) * restart:g} s"
    )
    assert burst >= 2
    assert burst * restart < interval, "the loop never trips the limit: it would spin forever"
    assert len(starts) == burst


def test_failed_unit_retries_after_a_cool_down() -> None:
    """OnFailure= starts the cool-down, which waits far longer than RestartSec, then restarts."""
    unit = read_unit(UNIT)
    assert unit.one("Unit", "OnFailure") == COOLDOWN_UNIT.name
    cooldown = read_unit(COOLDOWN_UNIT)
    sleep = cooldown.all("Service", "ExecStart")[0].split()
    assert sleep[0] == "/bin/sleep"
    pause = float(sleep[1])
    restart = seconds("Service", "RestartSec")
    burst = int(unit.one("Unit", "StartLimitBurst"))
    assert pause >= 10 * restart * burst  # a real second backoff step, not another fast retry
    assert seconds("Service", "TimeoutStartSec", unit="cooldown") > pause
    assert cooldown.one("Unit", "StartLimitIntervalSec") == "0"
    retry = cooldown.all("Service", "ExecStart")[1]
    for needed in ("is-enabled", "is-failed", "reset-failed edged.service", "start"):
        assert needed in retry, f"cool-down retry lacks {needed!r}: {retry}"


def test_backoff_keys_match_this_systemd(tmp_path: Path) -> None:
    """RestartSteps=/RestartMaxDelaySec= stay commented: this systemd (<254) rejects them."""
    assert ANALYZE is not None
    banner = subprocess.run(
        [ANALYZE, "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"systemd (\d+)", banner)
    assert found, banner
    version = int(found.group(1))
    text = UNIT.read_text()
    assert "\n#RestartSteps=" in text and "\n#RestartMaxDelaySec=" in text
    probe = tmp_path / "probe.service"
    probe.write_text("[Service]\nExecStart=/bin/true\nRestartSteps=8\nRestartMaxDelaySec=5min\n")
    proc = subprocess.run(
        [ANALYZE, "verify", "--recursive-errors=no", str(probe)],
        capture_output=True,
        text=True,
        check=False,
    )
    rejected = "Unknown key 'RestartSteps'" in proc.stderr
    print(f"\nsystemd {version}: RestartSteps {'rejected' if rejected else 'accepted'}")
    assert rejected == (version < 254)
