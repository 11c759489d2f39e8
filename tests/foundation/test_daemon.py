"""edged lifecycle as systemd sees it: READY, STATUS, reload, clean stop, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli.client import call
from tests.foundation.configs import minimal, write
from tests.foundation.notify_socket import NotifySocket

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def start_edged(config: Path, notify: NotifySocket | None, **env: str) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    if notify is not None:
        full_env["NOTIFY_SOCKET"] = str(notify.path)
    return subprocess.Popen(
        [sys.executable, "-m", "edge.daemon", "--config", str(config), "--log-json"],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


@pytest.fixture
def venue(tmp_path: Path) -> Path:
    return write(tmp_path / "venue.toml", minimal(tmp_path / "state", tmp_path / "run"))


def test_ready_status_and_clean_stop(venue: Path, notify: NotifySocket, tmp_path: Path) -> None:
    """READY=1 with a STATUS line, then SIGTERM gives STOPPING=1 and exit 0 within 5 s."""
    t0 = time.monotonic()
    proc = start_edged(venue, notify)
    try:
        ready_at = notify.wait_for("READY=1")
        print(f"edged start to READY=1: {ready_at - t0:.3f} s")
        assert any(m.startswith("READY=1\nSTATUS=") for _, m in notify.messages)
        status = call(tmp_path / "run", "status")
        assert status["site"] == "test-site"
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code, out, _ = stop(proc)
        assert time.monotonic() - t_stop < 5.0
        assert code == 0
        notify.wait_for("STOPPING=1", timeout_s=1)
        assert '"event": "stopping"' in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_watchdog_pings_when_supervised(venue: Path, notify: NotifySocket) -> None:
    """With WATCHDOG_USEC set, edged pings WATCHDOG=1 at half the interval."""
    proc = start_edged(venue, notify, WATCHDOG_USEC="200000")
    try:
        notify.wait_for("READY=1")
        time.sleep(0.6)
        notify.drain()
        pings = [m for _, m in notify.messages if m == "WATCHDOG=1"]
        assert len(pings) >= 3
    finally:
        stop(proc)


def test_bad_config_exits_78(tmp_path: Path) -> None:
    """A bad config at start: exit 78, every problem on stderr, nothing started."""
    bad = write(
        tmp_path / "venue.toml",
        minimal(tmp_path / "state", tmp_path / "run").replace("unit_id = 1", "unit_id = 0"),
    )
    proc = start_edged(bad, None)
    out, err = proc.communicate(timeout=10)
    code = proc.returncode
    assert code == 78
    assert "devices[0].unit_id: expected an integer 1..247, got 0" in out + err
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "run").exists()


def test_unwritable_state_dir_exits_78(tmp_path: Path) -> None:
    """A state directory that cannot be created is a config error naming storage.dir."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = write(tmp_path / "venue.toml", minimal(blocker / "state", tmp_path / "run"))
    proc = start_edged(cfg, None)
    out, err = proc.communicate(timeout=10)
    code = proc.returncode
    assert code == 78
    assert "storage.dir: cannot create" in out + err


def test_reload_good_and_bad(venue: Path, notify: NotifySocket, tmp_path: Path) -> None:
    """SIGHUP with a bad file keeps the old config; a good one is applied (version bumps)."""
    proc = start_edged(venue, notify)
    try:
        notify.wait_for("READY=1")
        good_text = venue.read_text()
        venue.write_text(good_text.replace("unit_id = 1", "unit_id = 999"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert call(tmp_path / "run", "status")["config_version"] == 1
        venue.write_text(good_text.replace('gateway = "gw-1"', 'gateway = "gw-2"'))
        result = call(tmp_path / "run", "reload")
        assert result["config_version"] == 2
        assert call(tmp_path / "run", "status")["gateway"] == "gw-2"
    finally:
        code, out, _ = stop(proc)
    assert code == 0
    assert "config_reload_rejected" in out
    assert "devices[0].unit_id: expected an integer 1..247, got 999" in out
