"""A command flood against edged as it runs in the field: its own process, a real mosquitto,
a simulated gate controller, command keys configured. 60,000 unsigned commands arrive as
fast as the broker delivers them while the cloud sends signed `open_gate` commands (resent
with the same cmd_id until answered, as the cloud does). Measured on the daemon's process:
peak RSS (VmRSS sampled every 100 ms) and the growth of its database files."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from sim.modbus import RegisterBank, SimUnit, serve_tcp
from tests.bookings.venue_rig import until
from tests.brokers import mosquitto, publish_lines  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
FLOOD = 60_000
RSS_LIMIT_KB = 128 * 1024
DB_GROWTH_LIMIT = 1024 * 1024

CONFIG = """
[site]
id = "flood"
gateway = "gw-1"
timezone = "UTC"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[uplink]
host = "127.0.0.1"
port = {mqtt}
keepalive = 5
backoff_initial_s = 0.1
backoff_cap_s = 0.5

[[uplink.command_keys]]
kid = "cloud"
public_key = "{public}"

[alarms]
tick_s = 0.2

[[zones]]
id = "court-1"
kind = "court"

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {modbus}

[[devices]]
id = "gate-1"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 3
poll_interval = 0.5

[[access.gates]]
id = "main"
device = "gate-1"
zones = ["court-1"]
"""


def spawn(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.daemon", "--config", str(config), "--log-json"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def db_bytes(state: Path) -> int:
    """The database file itself (its WAL is reused in place once SQLite checkpoints it at
    1000 pages, so it stays within WAL_LIMIT however long a flood lasts)."""
    return (state / "edged.db").stat().st_size


WAL_LIMIT = 1000 * 4096 + 1000 * 24 + 32 + 64 * 1024
"""SQLite's automatic checkpoint at 1000 pages of 4 KiB, frame headers, some slack."""


async def flood(mqtt_port: int, topic: str) -> float:
    """An attacker on the broker, in a process of its own: FLOOD unsigned open_gate commands
    (unique ids, QoS 1), as fast as mosquitto_pub sends them (one per line); seconds taken."""
    expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    lines = b"".join(
        msgspec.json.encode(
            {"cmd_id": f"f-{i}-{uuid.uuid4().hex[:8]}", "expires_at": expires, "gate": "main"}
        ) + b"\n"
        for i in range(FLOOD)
    )  # fmt: skip
    t0 = time.monotonic()
    await publish_lines(mqtt_port, topic, lines, qos=1)
    return time.monotonic() - t0


async def test_flood_of_60000_commands(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """RSS under 128 MB, database file growth under 1 MB (its WAL within SQLite's
    checkpoint size), `inbound_flood` raised, and every signed command sent during the flood
    answered (and executed once)."""
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    state, run = tmp_path / "state", tmp_path / "run"
    gate = RegisterBank()
    opened = []
    gate.on_write(lambda t, a, v: opened.append(v) if t == "coil" and a == 0 and v[0] else None)
    async with (
        serve_tcp([SimUnit(3, gate)]) as server,
        CloudEmulator("127.0.0.1", mosquitto.port, "flood", "gw-1", signing_key=key) as cloud,
    ):
        config = tmp_path / "venue.toml"
        config.write_text(
            CONFIG.format(
                state=state, run=run, mqtt=mosquitto.port, public=public, modbus=server.port
            )
        )
        proc = spawn(config)
        try:
            await cloud.wait_for(lambda: bool(cloud.received["birth"]), within=30)
            await asyncio.sleep(2.0)  # start-up writes settle
            db_before, rss_before = db_bytes(state), rss_kb(proc.pid)
            peak = rss_before
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, rss_kb(proc.pid))
                    await asyncio.sleep(0.1)

            async def legit() -> list[dict[str, object]]:
                answers = []
                for _ in range(5):
                    await asyncio.sleep(2.0)
                    body = cloud.command_body("open_gate", {"gate": "main"}, expires_in=600)
                    for _attempt in range(60):  # resent with the same cmd_id until answered
                        try:
                            answers.append(await cloud.command("open_gate", body=body, within=2))
                            break
                        except TimeoutError:
                            continue
                return answers

            sampler = asyncio.create_task(sample())
            legit_task = asyncio.create_task(legit())
            flood_started = time.monotonic()
            took = await flood(mosquitto.port, cloud.topics.cmd("open_gate"))
            answers = await legit_task
            await cloud.wait_for(
                lambda: any(a["alarm_id"] == "inbound_flood:cmd"
                            for a in cloud.unique("alarm").values()),
                within=30,
            )  # fmt: skip
            await asyncio.sleep(5.0)  # the outbox drains what the flood caused
            sampling = False
            await sampler
            db_after = db_bytes(state)
            files = {p.name: p.stat().st_size for p in state.glob("edged.db*")}
            refused = sum(1 for r in cloud.unique("cmd_res").values() if not r["ok"])
            # Refusals before the signature check are answered 20/s at most (bursts of 200).
            assert refused <= 200 + 20 * (time.monotonic() - flood_started) + 5
            print(
                f"flood: {FLOOD} commands in {took:.1f} s; daemon RSS {rss_before / 1024:.1f} MB "
                f"before, peak {peak / 1024:.1f} MB; database {db_before / 1e6:.2f} MB -> "
                f"{db_after / 1e6:.2f} MB; refusals answered {refused}; signed answered "
                f"{len(answers)} of 5; files {files}"
            )
            assert peak < RSS_LIMIT_KB
            assert db_after - db_before < DB_GROWTH_LIMIT
            assert files.get("edged.db-wal", 0) < WAL_LIMIT
            assert [a["code"] for a in answers] == ["ok"] * 5
            await until(lambda: len(opened) == 5, 10)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 15)
