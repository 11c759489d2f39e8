"""edged, the real process, from exec to READY=1 on a 340 MB database.

    .venv/bin/python bench/storage_ready.py [SIZE_MB] [RUNS]

Builds the database of bench/storage_open.py (outbox and journal rows), writes a one-court
venue whose state directory holds it (devices on an unreachable address: a bus that cannot
connect does not hold READY back), then starts `python -m edge.daemon` RUNS times with a
NOTIFY_SOCKET this script listens on, and prints exec -> READY=1 for each run, next to the
same start on an empty database. As root the page cache is dropped before each start (cold,
as after a reboot). The budget: the quick check stops at QUICK_CHECK_BUDGET_S and systemd's
start timeout is 90 s (TimeoutStartSec, extended while a salvage runs).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage_open import build, drop_caches  # noqa: E402

from edge.storage.check import QUICK_CHECK_BUDGET_S  # noqa: E402

VENUE = """
[site]
id = "bench"
gateway = "gw1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[[zones]]
id = "court-1"
kind = "court"
lights = ["lights-1.ch1_on"]

[[buses]]
kind = "modbus_tcp"
id = "tcp-gw"
host = "127.0.0.1"
port = 1

[[devices]]
id = "lights-1"
profile = "lighting_8ch"
bus = "tcp-gw"
unit_id = 1
zone = "court-1"
"""


def start_to_ready(config: Path, cold: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notify"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.settimeout(120)
        if cold:
            drop_caches()
        env = {**os.environ, "NOTIFY_SOCKET": str(path), "PYTHONPATH": str(ROOT)}
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.daemon", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                msg = sock.recv(4096).decode()
                if "READY=1" in msg:
                    return time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(30)
            sock.close()


def main(size_mb: float, runs: int) -> None:
    cold = os.geteuid() == 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name, size in (("empty", 0.0), (f"{size_mb:.0f} MB", size_mb)):
            state = base / name.replace(" ", "")
            state.mkdir()
            if size:
                build(state / "edged.db", size)
            config = base / f"{state.name}.toml"
            config.write_text(VENUE.format(state=state, run=base / f"run-{state.name}"))
            times = [start_to_ready(config, cold) for _ in range(runs)]
            mb = (state / "edged.db").stat().st_size / 1e6 if size else 0.0
            print(
                f"[{'cold' if cold else 'warm'}] {name:>7} database ({mb:.0f} MB): exec -> READY "
                + ", ".join(f"{t:.2f}" for t in times)
                + f" s (quick check budget {QUICK_CHECK_BUDGET_S} s, TimeoutStartSec 90 s)"
            )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 340.0, int(args[1]) if len(args) > 1 else 3)
