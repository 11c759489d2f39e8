"""edged and edgectl as their own processes, as on a gateway (shared by the e2e tests)."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def edgectl(run: Path | None, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`edgectl [--runtime-dir RUN] ARGS...`, output captured."""
    where = ["--runtime-dir", str(run)] if run is not None else []
    return subprocess.run(
        [sys.executable, "-m", "edge.cli.main", *where, *args],
        env=ENV, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def spawn_edged(config: Path, max_files: int | None = None) -> subprocess.Popen[bytes]:
    """edged through its entry point (`python -m edge.edged`), optionally with a descriptor
    limit like the unit's LimitNOFILE."""

    def limit() -> None:
        if max_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

    return subprocess.Popen(
        [sys.executable, "-m", "edge.edged", "--config", str(config), "--log-json"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=limit,
    )  # fmt: skip


async def wait_for(cond: Callable[[], bool], within: float = 15.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(poll)
