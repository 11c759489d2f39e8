"""5,000 idle connections to edged's control socket: edgectl still answers, edged's file
descriptors stay bounded, and the uplink still reconnects after a broker restart.

edged runs as its own process (the descriptors it holds are its own), with a real
mosquitto. Whoever can reach the socket (group `edge`) opens connections and sends
nothing; edged keeps at most `MAX_CONNECTIONS` and closes the idle ones to make room.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from edge.control.server import MAX_CONNECTIONS
from sim.broker import MosquittoBroker
from tests import brokers
from tests.daemon.procs import edgectl, spawn_edged, wait_for

mosquitto = brokers.mosquitto
IDLE = 5000

CONFIG = """
[site]
id = "flood"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[uplink]
host = "127.0.0.1"
port = {mqtt}
backoff_initial_s = 0.2
backoff_cap_s = 1.0
"""


def uplink(run: Path) -> dict[str, Any]:
    out = edgectl(run, "--json", "status")
    assert out.returncode == 0, out.stderr
    status: dict[str, Any] = json.loads(out.stdout)["uplink"]
    return status


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_idle_connections_do_not_lock_out_edgectl_or_the_uplink(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 200:
        pytest.skip(f"this machine allows {hard} open files per process; the test needs {IDLE}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE + 200), hard))
    run = tmp_path / "run"
    config = tmp_path / "venue.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", run=run, mqtt=mosquitto.port))
    edged = spawn_edged(config, max_files=4096)  # the unit's LimitNOFILE
    hoard: list[socket.socket] = []
    try:
        await wait_for(lambda: edgectl(run, "ping").returncode == 0, within=30, poll=0.1)
        await wait_for(lambda: uplink(run)["connected"] is True, within=30, poll=0.1)
        fds_before = open_fds(edged.pid)
        reconnects = uplink(run)["reconnects"]

        path = str(run / "edged.sock")
        for _ in range(IDLE):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            hoard.append(s)
        await asyncio.sleep(1.0)  # edged accepts (and sheds) them
        fds_flooded = open_fds(edged.pid)

        started = time.monotonic()
        ping = edgectl(run, "ping")
        ping_s = time.monotonic() - started
        assert ping.returncode == 0, ping.stdout + ping.stderr

        await asyncio.to_thread(mosquitto.restart)
        await wait_for(
            lambda: uplink(run)["reconnects"] > reconnects and uplink(run)["connected"],
            within=30,
            poll=0.1,
        )
        assert edgectl(run, "ping").returncode == 0
        print(f"\n{IDLE} idle control connections: edged holds {fds_flooded} descriptors "
              f"({fds_before} before; at most {MAX_CONNECTIONS} connections); edgectl ping "
              f"answered in {ping_s:.2f} s; uplink reconnected after a broker restart")  # fmt: skip
        assert fds_flooded <= fds_before + MAX_CONNECTIONS + 8
        assert edged.poll() is None
    finally:
        for s in hoard:
            s.close()
        edged.terminate()
        assert edged.wait(20) == 0
