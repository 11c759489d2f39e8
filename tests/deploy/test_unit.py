"""The shipped unit passes `systemd-analyze security` (exposure <= 2.0) and `verify` cleanly."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.unitfile import COOLDOWN_UNIT, UNIT, read_unit, tool

ANALYZE = tool("systemd-analyze")
pytestmark = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)
MAX_EXPOSURE = 2.0
STUB = "#!/bin/sh\nexit 0\n"


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze with a pager-free, colour-free environment."""
    assert ANALYZE is not None
    env = {"SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def exposure(unit: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Overall exposure printed by `systemd-analyze security --offline=true` for `unit`."""
    threshold = round(MAX_EXPOSURE * 10)  # --threshold is on a 0-100 scale
    proc = analyze("security", "--offline=true", f"--threshold={threshold}", str(unit))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout + proc.stderr)
    assert match, f"no overall exposure line in:\n{proc.stdout}\n{proc.stderr}"
    return float(match.group(1)), proc


def fake_root(tmp_path: Path, *units: Path, with_system_units: bool = False) -> Path:
    """A --root tree holding the units unchanged plus stub executables for their Exec* lines.

    `verify` checks that every ExecStart= binary exists; in the root the unit's real paths
    (/opt/edged/venv/bin/edged, /bin/kill, ...) exist as stubs, so the unit stays realistic.
    """
    root = tmp_path / "root"
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, unit_dir / unit.name)
        for exe in read_unit(unit).exec_paths():
            stub = root / exe.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text(STUB)
            stub.chmod(0o755)
    if with_system_units:
        shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    return root


def test_security_exposure_at_most_2() -> None:
    """`systemd-analyze security --offline` rates edged.service at exposure 2.0 or lower."""
    score, proc = exposure(UNIT)
    print(f"\nedged.service overall exposure: {score}")
    assert score <= MAX_EXPOSURE, proc.stdout
    assert proc.returncode == 0, f"threshold check failed:\n{proc.stderr}"


def test_security_check_can_fail(tmp_path: Path) -> None:
    """The exposure check is live: the same unit without its sandbox scores far above 2.0."""
    sandbox_start = UNIT.read_text().index("# --- Sandbox")
    loose = tmp_path / "edged.service"
    loose.write_text(UNIT.read_text()[:sandbox_start] + "\n[Install]\nWantedBy=multi-user.target\n")
    score, proc = exposure(loose)
    assert score > MAX_EXPOSURE
    assert proc.returncode != 0


def test_verify_is_silent(tmp_path: Path) -> None:
    """`systemd-analyze verify --recursive-errors=no` prints nothing for both units."""
    root = fake_root(tmp_path, UNIT, COOLDOWN_UNIT)
    proc = analyze(
        "verify", "--recursive-errors=no", f"--root={root}", UNIT.name, COOLDOWN_UNIT.name
    )
    print(f"\nverify rc={proc.returncode} stdout={proc.stdout!r} stderr={proc.stderr!r}")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_verify_with_dependencies_is_silent(tmp_path: Path) -> None:
    """With the host's system units in the root, OnFailure=/After= targets all resolve cleanly."""
    if not Path("/lib/systemd/system/multi-user.target").exists():
        pytest.skip("host has no /lib/systemd/system units to verify dependencies against")
    root = fake_root(tmp_path, UNIT, COOLDOWN_UNIT, with_system_units=True)
    proc = analyze(
        "verify", "--recursive-errors=yes", f"--root={root}", UNIT.name, COOLDOWN_UNIT.name
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def test_verify_catches_a_typo(tmp_path: Path) -> None:
    """The verify harness is live: a misspelt key in a copy of the unit is reported."""
    root = fake_root(tmp_path, UNIT)
    unit_copy = root / "etc/systemd/system" / UNIT.name
    unit_copy.write_text(unit_copy.read_text().replace("WatchdogSec=", "WatchdogSecs=", 1))
    proc = analyze("verify", "--recursive-errors=no", f"--root={root}", UNIT.name)
    assert "Unknown key 'WatchdogSecs'" in proc.stderr


def test_verify_catches_a_missing_binary(tmp_path: Path) -> None:
    """Without the stub for ExecStart, verify complains that the daemon is not executable."""
    root = fake_root(tmp_path, UNIT)
    (root / "opt/edged/venv/bin/edged").unlink()
    proc = analyze("verify", "--recursive-errors=no", f"--root={root}", UNIT.name)
    assert "/opt/edged/venv/bin/edged is not executable" in proc.stderr
