"""The release's inputs, checked in seconds (the full build and install is test_deb.py):
bounded dependencies, the constraints the suite runs on, the simulator's own distribution,
the generated man pages, the maintainer scripts and the bounded wait for time sync."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.unitfile import SYSTEMD_DIR, read_unit, timespan_seconds, tool

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SIM_PYPROJECT = tomllib.loads((REPO / "packaging/sim/pyproject.toml").read_text())
DEBIAN = REPO / "packaging/debian"
TIME_WAIT_DROP_IN = SYSTEMD_DIR / "time-wait-sync-bound.conf"


def manpage_module() -> object:
    """packaging/manpage.py, loaded from its path (packaging/ is not an importable package)."""
    spec = importlib.util.spec_from_file_location("edged_manpage", REPO / "packaging/manpage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared() -> list[Requirement]:
    """Every requirement of edged (and its extras) and of edged-sim, build systems included."""
    project = PYPROJECT["project"]
    texts = [*project["dependencies"], *SIM_PYPROJECT["project"]["dependencies"]]
    for extra in project["optional-dependencies"].values():
        texts += extra
    texts += PYPROJECT["build-system"]["requires"] + SIM_PYPROJECT["build-system"]["requires"]
    return [Requirement(t) for t in texts]


def constraints() -> dict[str, str]:
    """constraints.txt as {canonical name: pinned version}."""
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_dependency_has_an_upper_bound() -> None:
    """No requirement is open-ended: each has <, <=, == or ~= (own packages excepted)."""
    loose = [
        str(r)
        for r in declared()
        if r.name not in ("edged",)
        and not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)
    ]
    assert loose == []


def test_constraints_pin_every_declared_dependency_within_its_bounds() -> None:
    """Each runtime, test and dev requirement is pinned, and the pin satisfies pyproject."""
    pins = constraints()
    problems = []
    for req in declared():
        name = canonicalize_name(req.name)
        if name in ("edged", "setuptools") or (req.name == "RPi.GPIO"):
            continue  # ours; the isolated build backend; Pi-only (not installed here)
        if name not in pins:
            problems.append(f"{req.name}: not in constraints.txt")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}=={pins[name]} is outside {req.specifier}")
    assert problems == []


def test_the_suite_runs_on_the_constraints() -> None:
    """Every package constraints.txt names is installed here at exactly that version."""
    pins = constraints()
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    assert {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v} == {}


def test_simulator_is_its_own_distribution_at_edged_version() -> None:
    """edged ships no sim package and no edge-sim; edged-sim does, pinned to edged's version."""
    assert "edge-sim" not in PYPROJECT["project"]["scripts"]
    assert "sim*" not in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    version = PYPROJECT["project"]["version"]
    assert SIM_PYPROJECT["project"]["version"] == version
    assert f"edged=={version}" in SIM_PYPROJECT["project"]["dependencies"]
    assert SIM_PYPROJECT["project"]["scripts"] == {"edge-sim": "sim.cli:main"}


def test_edgectl_version() -> None:
    """`edgectl --version` prints the installed distribution's version."""
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "--version"], capture_output=True, text=True
    )
    assert proc.stdout.strip() == f"edgectl {importlib.metadata.version('edged')}"


def subcommand_names(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    """'edgectl status', 'edgectl config check', ... for every (nested) subcommand."""
    names = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                names.append(f"{prefix} {name}")
                names += subcommand_names(sub, f"{prefix} {name}")
    return names


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """edgectl.1 and edged.8 generated the way the package build does it."""
    out = tmp_path_factory.mktemp("man")
    made = {}
    for program, section in (("edgectl", "1"), ("edged", "8")):
        page = out / f"{program}.{section}"
        proc = subprocess.run(
            [
                sys.executable,
                "-I",
                "-B",
                str(REPO / "packaging/manpage.py"),
                program,
                section,
                str(page),
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        made[program] = page
    return made


def render(page: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("man") is None:
        pytest.skip("man-db is not installed (./run setup installs it)")
    return subprocess.run(
        ["man", "--warnings", "-E", "UTF-8", "-l", str(page)],
        capture_output=True,
        text=True,
        env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"},
    )


def test_man_pages_render_without_warnings(pages: dict[str, Path]) -> None:
    """groff reads both generated pages without a single warning."""
    for page in pages.values():
        proc = render(page)
        assert (proc.returncode, proc.stderr) == (0, ""), page.name


def test_edgectl_page_covers_every_command(pages: dict[str, Path]) -> None:
    """Every subcommand of the real parser has its section, options copy-pasteable as ASCII."""
    text = render(pages["edgectl"]).stdout
    generator: Any = manpage_module()
    parser = generator.capture_parser(generator.entry_point("edgectl"))
    missing = [n for n in subcommand_names(parser, "edgectl") if n not in text]
    assert missing == []
    assert "--runtime-dir RUNTIME_DIR" in text and "\u2010" not in text  # no typographic hyphen


def test_edged_page_has_options_and_exit_codes(pages: dict[str, Path]) -> None:
    """edged(8) lists --config from the parser and the exit codes systemd relies on."""
    text = render(pages["edged"]).stdout
    assert "--config CONFIG" in text
    assert re.search(r"EXIT STATUS.*\b78\b", text, re.S)


def test_maintainer_scripts_parse() -> None:
    """preinst, postinst, prerm and postrm are valid POSIX sh (dash); build-deb is valid bash."""
    for script in ("preinst", "postinst", "prerm", "postrm"):
        path = DEBIAN / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        assert subprocess.run(["sh", "-n", str(path)]).returncode == 0, script
    assert subprocess.run(["bash", "-n", str(REPO / "packaging/build-deb")]).returncode == 0


def test_time_sync_wait_is_bounded() -> None:
    """The drop-in bounds systemd-time-wait-sync (shipped as infinity) to at most 2 minutes."""
    analyze = tool("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    bound = read_unit(TIME_WAIT_DROP_IN).one("Service", "TimeoutStartSec")
    assert 0 < timespan_seconds(analyze, bound) <= 120


def test_time_sync_drop_in_verifies(tmp_path: Path) -> None:
    """With the host's systemd-time-wait-sync.service, the drop-in verifies without a word."""
    analyze = tool("systemd-analyze")
    stock = Path("/lib/systemd/system/systemd-time-wait-sync.service")
    if analyze is None or not stock.exists():
        pytest.skip("systemd (with systemd-time-wait-sync.service) is not installed")
    units = tmp_path / "usr/lib/systemd/system"
    shutil.copytree("/lib/systemd/system", units, symlinks=True)
    drop_in_dir = units / "systemd-time-wait-sync.service.d"
    drop_in_dir.mkdir(exist_ok=True)
    shutil.copy(TIME_WAIT_DROP_IN, drop_in_dir / "edged-bound.conf")
    bin_dir = tmp_path / "lib/systemd"
    bin_dir.mkdir(parents=True)
    (bin_dir / "systemd-time-wait-sync").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "systemd-time-wait-sync").chmod(0o755)
    proc = subprocess.run(
        [
            analyze,
            "verify",
            "--recursive-errors=no",
            f"--root={tmp_path}",
            "systemd-time-wait-sync.service",
        ],
        capture_output=True,
        text=True,
        env={"SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "PATH": "/usr/bin:/bin"},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
