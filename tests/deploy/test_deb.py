"""The release artifacts, installed the way an installer does it, in a clean Debian bookworm.

Build (packaging/build-deb), then in a fresh bookworm root (tests/deploy/bookworm.py): apt
installs the .deb's Depends, `dpkg -i` installs it, and edgectl, the man pages, completion
and `systemd-analyze verify` are tried there. Then the root boots with systemd-nspawn: edged
runs under its unit, `edgectl status` answers (as root and as a technician in group edge),
the wait for time sync is bounded, and upgrade, rollback, remove, purge and reinstall keep
the database.

About 1.5 minutes with a warm cache (~/.cache/edged-bookworm), one more for the first
debootstrap. It needs root, network to PyPI and the Debian mirror on the first run, so it
runs in its own CI step: `./run test-deb` (EDGED_DEB_TESTS=1); the main suite skips it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.bookworm import (
    Chroot,
    Container,
    Transcript,
    Unavailable,
    overlay,
    prepared_root,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.deb,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        os.environ.get("EDGED_DEB_TESTS") != "1",
        reason="builds the .deb and installs it into a bookworm root (~1.5 min): "
        "its own CI step, `./run test-deb`",
    ),
]
# The venue for the booted container: a site without devices, so that nothing is polled.
SITE_ONLY = '[site]\nid = "deb-test"\ngateway = "gw-1"\ntimezone = "Europe/Berlin"\n'
DB = "/var/lib/edged/edged.db"
TIMINGS: dict[str, float] = {}


@dataclass(frozen=True)
class Artifacts:
    deb: Path
    wheel: Path
    sim_wheel: Path
    version: str


def field(deb: Path, name: str) -> str:
    """One control field of a .deb."""
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """dist/ as `./run package` makes it, built into a temporary directory."""
    if os.geteuid() != 0:
        pytest.skip("building and installing the .deb needs root (chroot, mount)")
    for tool in ("dpkg-deb", "python3.11"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (./run test-deb installs it)")
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / "packaging/build-deb"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    TIMINGS["build"] = time.monotonic() - started
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (deb,) = out.glob("edged_*.deb")
    (wheel,) = out.glob("edged-*.whl")
    (sim_wheel,) = out.glob("edged_sim-*.whl")
    return Artifacts(deb, wheel, sim_wheel, field(deb, "Version"))


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Transcript]:
    """The commands run in the root; written to a file and summarised at the end."""
    log = Transcript()
    yield log
    path = tmp_path_factory.getbasetemp() / "bookworm-transcript.txt"
    path.write_text("\n\n".join(log.lines) + "\n")
    print(
        f"\ntranscript: {path}\ntimings (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items())
    )


@pytest.fixture(scope="module")
def root_dir(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts, transcript: Transcript
) -> Iterator[Path]:
    """A clean bookworm root with only the .deb's Depends (and man-db) installed by apt."""
    if shutil.which("chroot") is None or os.geteuid() != 0:
        pytest.skip("needs root and chroot")
    started = time.monotonic()
    try:
        lower = prepared_root(field(artifacts.deb, "Depends"), ("man-db",), transcript)
    except Unavailable as exc:
        pytest.skip(str(exc))
    TIMINGS["root + apt"] = time.monotonic() - started
    try:
        with overlay(lower, tmp_path_factory.mktemp("bookworm")) as root:
            yield root
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def chroot(root_dir: Path, artifacts: Artifacts, transcript: Transcript) -> Chroot:
    """The clean root with the .deb installed by `dpkg -i`."""
    root = Chroot(root_dir, transcript)
    shutil.copy(artifacts.deb, root_dir / "var/tmp/edged.deb")
    started = time.monotonic()
    proc = root.run("dpkg -i /var/tmp/edged.deb")
    TIMINGS["dpkg -i"] = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


@pytest.fixture(scope="module")
def booted(chroot: Chroot, root_dir: Path, transcript: Transcript) -> Iterator[Container]:
    """The root booted, with a device-free site config and edged enabled (install.md step 3)."""
    if shutil.which("systemd-nspawn") is None or shutil.which("nsenter") is None:
        pytest.skip("systemd-nspawn is not installed (apt-get install systemd-container)")
    (root_dir / "etc/edge/venue.toml").write_text(SITE_ONLY)
    # In a container systemd skips the time wait (ConditionVirtualization=!container) and
    # could not read the kernel's sync state anyway (nspawn filters adjtimex). This test
    # drop-in clears the conditions and stands in a wait that never ends, as in a venue
    # without internet, bounded at 5 s instead of the package's 90 s: edged must start.
    drop_in = root_dir / "etc/systemd/system/systemd-time-wait-sync.service.d/zz-test.conf"
    drop_in.parent.mkdir(parents=True)
    drop_in.write_text(
        "[Unit]\nConditionVirtualization=\n"
        "[Service]\nExecStart=\nExecStart=/bin/sleep infinity\nTimeoutStartSec=5s\n"
    )
    assert chroot.run("systemctl enable edged.service").returncode == 0
    started = time.monotonic()
    try:
        container = Container(root_dir, root_dir.parent / "nspawn.log", transcript)
    except Unavailable as exc:
        pytest.skip(f"no booted container here: {exc}")
    TIMINGS["boot"] = time.monotonic() - started
    yield container
    container.stop()


# --- the artifacts ------------------------------------------------------------------------


def test_wheel_leaves_the_simulator_out(artifacts: Artifacts) -> None:
    """edged's wheel has edge/, drivers/, rules/ and no sim/; edged-sim's has sim/ and edge-sim."""
    names = zipfile.ZipFile(artifacts.wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("edged-")}
    assert tops == {"edge", "drivers", "rules"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(artifacts.wheel).read(entry_points).decode()
    assert "edge-sim" not in scripts and "edgectl" in scripts
    sim = zipfile.ZipFile(artifacts.sim_wheel)
    assert {n.split("/")[0] for n in sim.namelist() if not n.startswith("edged_sim-")} == {"sim"}
    sim_eps = next(n for n in sim.namelist() if n.endswith("entry_points.txt"))
    assert "edge-sim = sim.cli:main" in sim.read(sim_eps).decode()


def test_deb_layout(artifacts: Artifacts) -> None:
    """The .deb holds the venv, the commands, units, accounts, man pages, completion, conffile."""
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(artifacts.deb)], capture_output=True, text=True, check=True
    ).stdout
    paths = {line.split()[5].removeprefix(".") for line in listing.splitlines()}
    expected = {
        "/opt/edged/venv/bin/edged",
        "/opt/edged/venv/bin/edgectl",
        "/usr/bin/edged",
        "/usr/bin/edgectl",
        "/lib/systemd/system/edged.service",
        "/lib/systemd/system/edged-cooldown.service",
        "/lib/systemd/system/systemd-time-wait-sync.service.d/edged-bound.conf",
        "/lib/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service",
        "/usr/lib/sysusers.d/edged.conf",
        "/usr/lib/tmpfiles.d/edged.conf",
        "/etc/edge/venue.toml",
        "/usr/share/man/man1/edgectl.1.gz",
        "/usr/share/man/man8/edged.8.gz",
        "/usr/share/bash-completion/completions/edgectl",
        "/usr/share/doc/edged/install.md",
    }
    assert expected - paths == set()
    assert [p for p in paths if "/site-packages/sim/" in p or p.endswith("/edge-sim")] == []
    conffiles = subprocess.run(
        ["dpkg-deb", "-I", str(artifacts.deb), "conffiles"], capture_output=True, text=True
    ).stdout.split()
    assert conffiles == ["/etc/edge/venue.toml"]
    depends = field(artifacts.deb, "Depends")
    assert "python3.11" in depends and "systemd (>= 252)" in depends
    size_mb = artifacts.deb.stat().st_size / 1e6
    site_packages = {p.split("/")[6] for p in paths if "/site-packages/" in p and p.count("/") > 6}
    print(
        f"\n{artifacts.deb.name}: {size_mb:.1f} MB, {len(paths)} entries, installed "
        f"{field(artifacts.deb, 'Installed-Size')} KiB, built in {TIMINGS.get('build', 0):.0f} s"
        f"\nsite-packages: {' '.join(sorted(site_packages))}"
    )


# --- installed in a clean bookworm root (chroot) ------------------------------------------


def test_dpkg_installs_it(chroot: Chroot, artifacts: Artifacts) -> None:
    """`dpkg -i` after apt installed only the Depends: the package is fully installed."""
    proc = chroot.run("dpkg-query -W -f='${Status} ${Version}\\n' edged")
    assert proc.stdout.strip() == f"install ok installed {artifacts.version}"


def test_edgectl_is_on_path_with_its_version(chroot: Chroot, artifacts: Artifacts) -> None:
    """edgectl and edged are on PATH; --version names the installed version."""
    proc = chroot.run("command -v edgectl; command -v edged; edgectl --version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        "/usr/bin/edgectl",
        "/usr/bin/edged",
        f"edgectl {artifacts.version.split('+')[0]}",
    ]


def test_shipped_config_checks_as_the_daemon_user(chroot: Chroot) -> None:
    """The shipped /etc/edge/venue.toml is readable by group edge and passes config check."""
    proc = chroot.run("runuser -u edge -- edgectl config check /etc/edge/venue.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": ok (" in proc.stdout


def test_accounts_and_permissions(chroot: Chroot) -> None:
    """sysusers made edge (dialout, gpio); the config and TLS folder are root:edge, not world."""
    proc = chroot.run(
        "id -nG edge; stat -c '%a %U:%G %n' /etc/edge/venue.toml /etc/edge/tls; "
        "getent passwd edge | cut -d: -f6,7"
    )
    lines = proc.stdout.splitlines()
    assert sorted(lines[0].split()) == ["dialout", "edge", "gpio"]
    assert lines[1:] == [
        "640 root:edge /etc/edge/venue.toml",
        "750 root:edge /etc/edge/tls",
        "/var/lib/edged:/usr/sbin/nologin",
    ]


def test_example_config_is_not_enabled_at_install(chroot: Chroot) -> None:
    """With the example venue still in place, the postinst leaves the unit disabled."""
    proc = chroot.run("systemctl is-enabled edged.service")
    assert proc.stdout.strip() == "disabled"


def test_man_pages(chroot: Chroot) -> None:
    """`man edgectl` and `man 8 edged` render, with ASCII options that can be copied."""
    proc = chroot.run("man -P cat edgectl")
    assert proc.returncode == 0, proc.stderr
    assert "edgectl - diagnose and operate edged" in proc.stdout
    for text in ("--runtime-dir RUNTIME_DIR", "edgectl config check", "edgectl alarms"):
        assert text in proc.stdout
    proc = chroot.run("man -P cat 8 edged | head -12")
    assert "--config CONFIG" in proc.stdout


def test_bash_completion(chroot: Chroot) -> None:
    """The installed completion completes edgectl's commands."""
    proc = chroot.run(
        "bash -c '. /usr/share/bash-completion/completions/edgectl; "
        'COMP_WORDS=(edgectl conf); COMP_CWORD=1; _edgectl; echo "${COMPREPLY[*]}"\''
    )
    assert proc.stdout.strip() == "config"


def test_systemd_analyze_verify(chroot: Chroot) -> None:
    """The installed units (and the time-wait drop-in) verify without a word."""
    proc = chroot.run(
        "systemd-analyze verify /lib/systemd/system/edged.service "
        "/lib/systemd/system/edged-cooldown.service systemd-time-wait-sync.service"
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# --- booted with systemd-nspawn -----------------------------------------------------------


def test_boot_starts_edged_and_status_answers(booted: Container) -> None:
    """At boot edged comes up under its unit; edgectl status works for root and group edge."""
    assert booted.wait_for("systemctl is-active --quiet edged"), booted.run(
        "systemctl status edged --no-pager; journalctl -u edged -n 30 --no-pager"
    ).stdout
    proc = booted.run("edgectl status")
    assert proc.returncode == 0, proc.stderr
    assert "deb-test/gw-1" in proc.stdout
    proc = booted.run("useradd -m -G edge tech && runuser -u tech -- edgectl --json status")
    assert proc.returncode == 0, proc.stderr
    proc = booted.run("useradd -m stranger && runuser -u stranger -- edgectl status")
    assert proc.returncode == 3, "a user outside group edge must not reach the socket"


def test_time_sync_wait_is_bounded(booted: Container) -> None:
    """The package pulls the time wait into boot, bounded; when it times out edged starts."""
    show = booted.run(
        "systemctl show systemd-time-wait-sync -p WantedBy -p DropInPaths -p Result "
        "-p InactiveEnterTimestampMonotonic; "
        "systemctl show edged -p ExecMainStartTimestampMonotonic -p After"
    )
    props = dict(line.split("=", 1) for line in show.stdout.splitlines())
    assert "sysinit.target" in props["WantedBy"].split()
    assert "edged-bound.conf" in props["DropInPaths"]
    assert props["Result"] == "timeout"  # the never-ending wait was cut at 5 s
    assert "time-sync.target" in props["After"].split()
    assert int(props["ExecMainStartTimestampMonotonic"]) > int(
        props["InactiveEnterTimestampMonotonic"]
    ), "edged must start after the wait ended"
    shipped = booted.run(
        "cat /lib/systemd/system/systemd-time-wait-sync.service.d/edged-bound.conf"
    )
    assert "TimeoutStartSec=90s" in shipped.stdout.splitlines()


def test_upgrade_rollback_remove_purge_reinstall(
    booted: Container, artifacts: Artifacts, root_dir: Path, tmp_path: Path
) -> None:
    """dpkg -i newer, then older: edged runs again each time on the same database file, with
    a copy of it from before each change; remove keeps config and data; purge drops the
    config, keeps the data and the account; an install over a config already in place
    enables the unit but does not start it."""
    newer = repack(artifacts.deb, f"{artifacts.version}+test1", tmp_path)
    shutil.copy(newer, root_dir / "var/tmp/edged-newer.deb")
    inode = booted.run(f"stat -c %i {DB}").stdout.strip()
    assert inode

    def installed() -> str:
        return booted.run("dpkg-query -W -f='${Version}' edged").stdout

    steps = [("edged-newer.deb", f"{artifacts.version}+test1"), ("edged.deb", artifacts.version)]
    for deb, version in steps:  # upgrade, then roll back
        proc = booted.run(f"dpkg -i /var/tmp/{deb}", timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert installed() == version
        assert booted.run("systemctl is-active edged").stdout.strip() == "active"
        assert booted.run("edgectl status").returncode == 0
        assert booted.run(f"stat -c %i {DB}").stdout.strip() == inode

    # A copy per version left behind: the one from before the upgrade survives the rollback.
    before_upgrade = booted.run(f"cat /var/lib/edged.dpkg-backup/{artifacts.version}/FROM")
    assert f"copied before installing {artifacts.version}+test1 " in before_upgrade.stdout
    assert (
        booted.run(f"test -s /var/lib/edged.dpkg-backup/{artifacts.version}/edged.db").returncode
        == 0
    )

    proc = booted.run("dpkg -r edged", timeout=300)
    assert proc.returncode == 0, proc.stderr
    gone = booted.run("systemctl is-active edged; test -e /usr/bin/edgectl; echo $?")
    assert gone.stdout.split() == ["inactive", "1"]
    assert booted.run(f"test -f /etc/edge/venue.toml && test -f {DB}").returncode == 0

    proc = booted.run("dpkg -P edged", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "kept /var/lib/edged" in proc.stdout
    left = booted.run(
        f"test -e /etc/edge/venue.toml; echo $?; stat -c %i {DB}; getent passwd edge | cut -d: -f1;"
        " dpkg-statoverride --list /etc/edge/venue.toml; echo $?"
    )
    assert left.stdout.split() == ["1", inode, "edge", "1"]

    (root_dir / "etc/edge").mkdir()
    (root_dir / "etc/edge/venue.toml").write_text(SITE_ONLY)
    proc = booted.run("dpkg -i --force-confold /var/tmp/edged.deb", timeout=300)
    assert proc.returncode == 0, proc.stderr
    state = booted.run("systemctl is-enabled edged; systemctl is-active edged")
    assert state.stdout.split() == ["enabled", "inactive"]
    assert booted.run("systemctl start edged && edgectl status").returncode == 0
    assert booted.run(f"stat -c %i {DB}").stdout.strip() == inode


def repack(deb: Path, version: str, work: Path) -> Path:
    """The same package under another version, for an upgrade without a second build."""
    tree = work / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN/control"
    control.write_text(
        "".join(
            f"Version: {version}\n" if line.startswith("Version:") else line
            for line in control.read_text().splitlines(keepends=True)
        )
    )
    out = work / f"edged_{version}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Znone", "--build", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    return out
