"""edged.sysusers and edged.tmpfiles apply cleanly to an empty root and match the unit."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.unitfile import SYSUSERS, TMPFILES, UNIT, read_unit, tool

SYSUSERS_BIN = tool("systemd-sysusers")
TMPFILES_BIN = tool("systemd-tmpfiles")


def table(path: Path) -> dict[str, list[str]]:
    """/etc/passwd or /etc/group as {name: fields}."""
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty root with the two files installed where the guide puts them."""
    if SYSUSERS_BIN is None or TMPFILES_BIN is None:
        pytest.skip("systemd-sysusers/systemd-tmpfiles not installed (apt-get install systemd)")
    (tmp_path / "etc").mkdir()
    for src, sub in ((SYSUSERS, "sysusers.d"), (TMPFILES, "tmpfiles.d")):
        dest = tmp_path / "usr/lib" / sub
        dest.mkdir(parents=True)
        shutil.copy(src, dest / "edged.conf")
    return tmp_path


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_sysusers_creates_the_service_account(root: Path) -> None:
    """systemd-sysusers makes a nologin system user edge in groups dialout and gpio."""
    assert SYSUSERS_BIN is not None
    proc = run(SYSUSERS_BIN, f"--root={root}", "edged.conf")
    assert proc.returncode == 0, proc.stderr
    passwd, group = table(root / "etc/passwd"), table(root / "etc/group")
    edge = passwd["edge"]
    assert int(edge[2]) < 1000  # a system uid
    assert edge[5:] == ["/var/lib/edged", "/usr/sbin/nologin"]
    for name in ("dialout", "gpio"):
        assert "edge" in group[name][3].split(","), f"edge is not a member of {name}"


def test_sysusers_keeps_existing_groups(root: Path) -> None:
    """On a Pi, existing dialout (20) and gpio (993) keep their ids and gain member edge."""
    assert SYSUSERS_BIN is not None
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:pi\ngpio:x:993:pi\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    proc = run(SYSUSERS_BIN, f"--root={root}", "edged.conf")
    assert proc.returncode == 0, proc.stderr
    group = table(root / "etc/group")
    for name, gid in (("dialout", "20"), ("gpio", "993")):
        assert group[name][2] == gid
        assert sorted(group[name][3].split(",")) == ["edge", "pi"]


def test_unit_uses_only_accounts_sysusers_creates(root: Path) -> None:
    """User=, Group= and SupplementaryGroups= all name accounts the sysusers file creates."""
    assert SYSUSERS_BIN is not None
    assert run(SYSUSERS_BIN, f"--root={root}", "edged.conf").returncode == 0
    unit = read_unit(UNIT)
    assert unit.one("Service", "User") in table(root / "etc/passwd")
    groups = table(root / "etc/group")
    wanted = [unit.one("Service", "Group"), *unit.one("Service", "SupplementaryGroups").split()]
    assert [g for g in wanted if g not in groups] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-tmpfiles needs root to chown")
def test_tmpfiles_creates_the_tls_directory(root: Path) -> None:
    """systemd-tmpfiles --create makes /etc/edge/tls root:edge 0750 and nothing else."""
    assert SYSUSERS_BIN is not None and TMPFILES_BIN is not None
    assert run(SYSUSERS_BIN, f"--root={root}", "edged.conf").returncode == 0
    proc = run(TMPFILES_BIN, "--create", f"--root={root}", "edged.conf")
    assert (proc.returncode, proc.stderr) == (0, "")
    tls = (root / "etc/edge/tls").stat()
    edge_gid = int(table(root / "etc/group")["edge"][2])
    assert (tls.st_mode & 0o7777, tls.st_uid, tls.st_gid) == (0o750, 0, edge_gid)
    # /opt/edged is the package's own (the venv); tmpfiles must not make or clean it.
    assert not (root / "opt").exists()
