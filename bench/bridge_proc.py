"""CPU, memory and machine facts for bench/bridge.py, read from /proc (Linux only).

CPU is utime+stime of a process and its live descendants (all threads), plus the
cutime+cstime of children it already reaped, in seconds; RSS is VmRSS summed over the
same tree. `/proc/stat` gives the whole machine's busy time, so the report can say how
much of the 2 cores other sessions took during a window.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    todo += [
                        int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()
                    ]
    return out


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime+stime (+ reaped children's) of `pid` and its live descendants."""
    ticks = 0
    for p in descendants(pid):
        f = _stat_fields(p)
        if f is not None:  # fields 14..17 of proc(5), counted from `state` (field 3)
            ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / TICK


def rss_kib(pid: int) -> int:
    total = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # guest time is already inside user time
    total = sum(values[:8])
    return (total - idle) / TICK, total / TICK


def busy_pct(sample_s: float = 3.0) -> float:
    """The whole machine's CPU use over `sample_s`, in % of one core (2 busy cores: 200)."""
    import time

    b0, _ = machine_busy_seconds()
    t0 = time.monotonic()
    time.sleep(sample_s)
    b1, _ = machine_busy_seconds()
    return 100 * (b1 - b0) / (time.monotonic() - t0)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _command_line(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    kernel: str
    python: str
    versions: dict[str, str]


def machine(root: Path, m2m_python: Path | None) -> Machine:
    versions = {
        d: _version(d) for d in ("pymodbus", "aiomqtt", "paho-mqtt", "msgspec", "structlog")
    }
    mosquitto = "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else "mosquitto"
    versions["mosquitto"] = _command_line([mosquitto, "-h"]).replace("mosquitto version ", "")
    commit = _command_line(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    dirty = _command_line(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])
    versions["edged"] = commit + (
        " (+ uncommitted changes)" if dirty not in ("", "unknown") else ""
    )
    if m2m_python is not None:
        probe = (
            "import importlib.metadata as m; print(m.version('modbus2mqtt'), m.version('pymodbus'))"
        )
        found = _command_line([str(m2m_python), "-c", probe]).split()
        if len(found) == 2:
            versions["modbus2mqtt"] = f"{found[0]} (with pymodbus {found[1]})"
    return Machine(
        cores=os.cpu_count() or 0,
        cpu=_cpu_model(),
        kernel=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
        versions=versions,
    )
