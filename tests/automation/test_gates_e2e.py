"""A QR pass on a real pty scanner line opens the gate, offline; replays and forgeries do not."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pwd
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.access.passes import PassFields, issue_pass
from edge.bookings.store import BookingStore
from edge.storage import Database
from rules.model import Booking
from sim.modbus import RegisterBank, SimUnit, serve_tcp
from sim.readers import ReaderLine

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

CONFIG = """
[site]
id = "gate-site"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[[zones]]
id = "court-3"
kind = "court"

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {port}

[[buses]]
id = "scanner-main"
kind = "serial_line"
port = "{scanner}"
role = "qr_scanner"
gate = "main"

[[devices]]
id = "gate-ctl"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 5
poll_interval = 0.2

[access]
early_entry_min = 30

[[access.keys]]
kid = "k1"
public_key = "{public}"

[[access.gates]]
id = "main"
device = "gate-ctl"
zones = ["court-3"]
"""


def spawn(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.daemon", "--config", str(config), "--log-json"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def edgectl(run: Path, *args: str) -> object:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(run), "--json", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def until(cond: object, timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def answers(run: Path) -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(run), "ping"],
        env=ENV,
        capture_output=True,
        timeout=30,
    )
    return out.returncode == 0


async def wait_started(run: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until this edged answers (a socket left by a killed one is not enough)."""
    await until(lambda: proc.poll() is not None or answers(run), 30)
    assert proc.poll() is None


async def test_pass_opens_gate_and_replay_refused_after_restart(tmp_path: Path) -> None:
    """Granted scan pulses the relay (journaled with the pass id); after a restart: used_up."""
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    now = datetime.now(UTC).replace(microsecond=0)
    state, run = tmp_path / "state", tmp_path / "run"
    state.mkdir()
    db = Database.open(state / "edged.db")
    store = await BookingStore.open(db)
    await store.replace_all(
        1,
        [
            Booking(
                booking_id="b-7",
                zone="court-3",
                start=now,
                end=now + timedelta(hours=2),
                member="m-1",
                version=1,
            )
        ],
    )
    db.close()
    token = issue_pass(
        key,
        "k1",
        PassFields(
            pass_id="p-100",
            booking_id="b-7",
            site="gate-site",
            not_before=now - timedelta(minutes=5),
            expires=now + timedelta(hours=3),
            entries=1,
            zones=("court-3",),
        ),
    )
    # One character flipped inside the signature: well formed, but not signed by k1.
    forged = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]

    gate = RegisterBank()
    scanner = ReaderLine("scanner-main", "qr_scanner", "main", link_dir=tmp_path / "dev")
    await scanner.start()
    try:
        async with serve_tcp([SimUnit(5, gate)]) as server:
            config = tmp_path / "venue.toml"
            config.write_text(
                CONFIG.format(
                    state=state,
                    run=run,
                    port=server.port,
                    scanner=scanner.path,
                    public=public.decode(),
                )
            )
            proc = spawn(config)
            try:
                await wait_started(run, proc)
                scanner.send_line(forged)
                await asyncio.sleep(1.0)
                assert gate.get_coils(0, 1) == [False]
                scanner.send_line(token)
                await until(lambda: gate.get_coils(0, 1) == [True])
                decisions = edgectl(run, "access", "--gate", "main")
                assert isinstance(decisions, list)
                assert [(a["granted"], a["reason"]) for a in decisions][:2] == [
                    (True, "granted"),
                    (False, "bad_signature"),
                ]
                why = edgectl(run, "journal", "--kind", "access")
                assert isinstance(why, list) and why[0]["body"]["pass_id"] == "p-100"
                assert why[0]["booking"] == "b-7" and why[0]["body"]["opened"] is True
            finally:
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 10)

            gate.set_coils(0, [False])
            proc = spawn(config)
            try:
                await wait_started(run, proc)
                scanner.send_line(token)
                await until(lambda: bool(edgectl(run, "access", "--gate", "main")))
                await asyncio.sleep(0.5)
                latest = edgectl(run, "access", "--gate", "main")
                assert isinstance(latest, list)
                assert latest[0]["granted"] is False
                assert latest[0]["reason"] in ("used_up", "passback")
                assert gate.get_coils(0, 1) == [False]
                # A technician opens it (in a thread: this loop serves the simulated gate).
                opened = await asyncio.to_thread(edgectl, run, "gate", "open", "main")
                assert isinstance(opened, dict) and opened["opened"] is True
                await until(lambda: gate.get_coils(0, 1) == [True])
                actions = edgectl(run, "journal", "--kind", "operation")
                assert isinstance(actions, list) and actions[0]["subject"] == "main"
                # Who opened it comes from the socket's peer, not from the request.
                assert actions[0]["actor_kind"] == "technician"
                assert actions[0]["actor"] == pwd.getpwuid(os.getuid()).pw_name
                assert actions[0]["body"]["op"] == "open_gate" and actions[0]["body"]["ok"]
            finally:
                proc.send_signal(signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 10)
    finally:
        await scanner.stop()
