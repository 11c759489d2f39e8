"""Read the shipped systemd files the way the tests need them (no systemd as PID 1 here).

A unit file may repeat a key (DeviceAllow=, ExecStart=), so it is kept as an ordered list of
(section, key, value) rather than a ConfigParser dict, which would keep only the last one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD_DIR / "edged.service"
COOLDOWN_UNIT = SYSTEMD_DIR / "edged-cooldown.service"
SYSUSERS = SYSTEMD_DIR / "edged.sysusers"
TMPFILES = SYSTEMD_DIR / "edged.tmpfiles"
EXEC_KEYS = ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop")


@dataclass(frozen=True)
class UnitFile:
    """The assignments of one unit file, in file order."""

    path: Path
    entries: tuple[tuple[str, str, str], ...]

    def all(self, section: str, key: str) -> list[str]:
        """Every value assigned to `key` in `section` (an empty assignment resets the list)."""
        found: list[str] = []
        for sec, k, value in self.entries:
            if sec == section and k == key:
                found = [] if value == "" else [*found, value]
        return found

    def one(self, section: str, key: str) -> str:
        """The single value of `key`; fails the test if it is missing."""
        values = [v for sec, k, v in self.entries if sec == section and k == key]
        assert values, f"{self.path.name}: [{section}] {key}= is missing"
        return values[-1]

    def exec_paths(self) -> list[str]:
        """Absolute executables named by the Exec*= lines (prefixes like '-' or '!' dropped)."""
        paths = []
        for _sec, key, value in self.entries:
            if key in EXEC_KEYS and value:
                paths.append(value.lstrip("-@:+!").split()[0])
        return paths


def read_unit(path: Path) -> UnitFile:
    """Parse a unit/ini file: sections, comments, backslash continuations, repeated keys."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        header = re.fullmatch(r"\[(.+)\]", line)
        if header:
            section = header.group(1)
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return UnitFile(path=path, entries=tuple(entries))


def tool(name: str) -> str | None:
    """Absolute path of a systemd tool, or None when it is not installed."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/bin/{name}") if Path(p).exists()), None
    )


def timespan_seconds(analyze: str, span: str) -> float:
    """Seconds in a systemd time span ("5s", "10min"), parsed by systemd-analyze itself."""
    out = subprocess.run(
        [analyze, "timespan", span], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"μs:\s*(\d+)", out)
    assert match, f"systemd-analyze timespan {span!r} printed no μs line:\n{out}"
    return int(match.group(1)) / 1_000_000
