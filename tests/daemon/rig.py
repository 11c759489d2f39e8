"""edged in this process on a small simulated venue: three Modbus TCP devices, a QR
scanner on a pty, a gate, and (optionally) a real mosquitto for the uplink."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access import PassFields, issue_pass
from edge.cli.client import call
from edge.clock import Clock, SystemClock
from edge.daemon import Daemon
from edge.notify import Notifier
from edge.stores import Stores
from edge.venue import load_venue
from sim.modbus import RegisterBank, SimUnit, serve_tcp
from sim.readers import ReaderLine

VENUE = """
[site]
id = "mf"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[uplink]
host = "127.0.0.1"
port = {mqtt}
keepalive = {keepalive}
backoff_initial_s = 0.1
backoff_cap_s = 0.5

[alarms]
tick_s = 0.2
comm_lost_after_s = 0.5

[[zones]]
id = "hall-a"
kind = "hall"
hvac = ["hvac-a"]

[[zones]]
id = "court-1"
kind = "court"
parent = "hall-a"
lights = ["lights-a.ch1_on"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = {modbus}

[[buses]]
id = "qr-main"
kind = "serial_line"
port = "{scanner}"
role = "qr_scanner"
gate = "main"

[[devices]]
id = "lights-a"
profile = "lighting_8ch"
bus = "tcp-1"
unit_id = 1
zone = "court-1"
poll_interval = 0.2

[[devices]]
id = "hvac-a"
profile = "hvac_fancoil"
bus = "tcp-1"
unit_id = 2
zone = "hall-a"
poll_interval = 0.2

[[devices]]
id = "gate-1"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 3
poll_interval = 0.2

[[access.keys]]
kid = "k1"
public_key = "{public}"

[[access.gates]]
id = "main"
device = "gate-1"
zones = ["hall-a"]
"""


@dataclass
class Rig:
    daemon: Daemon
    stores: Stores
    config: Path
    run: Path
    scanner: ReaderLine
    gate: RegisterBank
    hvac: RegisterBank
    key: Ed25519PrivateKey
    text: str

    async def edgectl(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        """What edgectl would send, over the real socket (in a thread: this loop serves)."""
        return await asyncio.to_thread(call, self.run, cmd, args or {}, 10.0)

    def token(self, pass_id: str = "p-1") -> str:
        now = datetime.now(UTC).replace(microsecond=0)
        fields = PassFields(
            pass_id=pass_id,
            booking_id="b-1",
            site="mf",
            not_before=now - timedelta(minutes=5),
            expires=now + timedelta(hours=2),
            entries=1,
            zones=("hall-a",),
        )
        return issue_pass(self.key, "k1", fields)

    def write_config(self, text: str) -> None:
        self.config.write_text(text)


async def until(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def daemon_rig(
    tmp: Path, mqtt_port: int, clock: Clock | None = None, keepalive: int = 5
) -> AsyncIterator[Rig]:
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    gate, hvac = RegisterBank(), RegisterBank()
    scanner = ReaderLine("qr-main", "qr_scanner", "main", link_dir=tmp / "dev")
    await scanner.start()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(scanner.stop)
        units = [SimUnit(1, RegisterBank()), SimUnit(2, hvac), SimUnit(3, gate)]
        server = await stack.enter_async_context(serve_tcp(units))
        run = tmp / "run"
        config = tmp / "venue.toml"
        text = VENUE.format(
            state=tmp / "state", run=run, mqtt=mqtt_port, keepalive=keepalive,
            modbus=server.port, scanner=scanner.path, public=public,
        )  # fmt: skip
        config.write_text(text)
        daemon = Daemon(config, load_venue(config), clock or SystemClock(), Notifier(""))
        task = asyncio.create_task(daemon.run())
        await until(lambda: task.done() or "control" in daemon.supervisor.names, 30)
        assert not task.done() and daemon.stores is not None
        try:
            yield Rig(daemon, daemon.stores, config, run, scanner, gate, hvac, key, text)
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 15) == 0


async def book(stores: Stores, booking_id: str = "b-1", zone: str = "court-1") -> None:
    """A confirmed booking running now (what the pass of `Rig.token` refers to)."""
    from rules.model import Booking

    now = datetime.now(UTC).replace(microsecond=0)
    b = Booking(
        booking_id=booking_id, zone=zone, start=now - timedelta(minutes=10),
        end=now + timedelta(hours=1), member="m-1", version=stores.bookings.version + 1,
    )  # fmt: skip
    await stores.bookings.replace_all(stores.bookings.version + 1, [b])
