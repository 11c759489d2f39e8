"""edged in this process on a small venue with credential gates fed by bookings: a card
reader on the main gate, a plate camera on the car-park barrier (both pty lines), two
simulated Modbus gate controllers, the uplink on a real mosquitto, and the cloud emulator.

Opening counts come from the controllers' side (master writes of `true` to the relay
coil), decisions from the daemon's access topic: what an attacker would see, not what
the daemon believes it did."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.records import AccessEvent
from edge.clock import SystemClock
from edge.daemon import Daemon
from edge.notify import Notifier
from edge.stores import Stores
from edge.venue import load_venue
from sim.cloud import CloudEmulator
from sim.modbus import RegisterBank, SimUnit, serve_tcp
from sim.readers import ReaderLine

SITE, GW = "sec", "gw-1"

VENUE = """
[site]
id = "{site}"
gateway = "{gw}"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"

[uplink]
host = "127.0.0.1"
port = {mqtt}
keepalive = 5
backoff_initial_s = 0.1
backoff_cap_s = 0.5
{uplink_extra}

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

[[buses]]
id = "card-main"
kind = "serial_line"
port = "{card}"
role = "card_reader"
gate = "main"

[[buses]]
id = "plate-cp"
kind = "serial_line"
port = "{plate}"
role = "plate_camera"
gate = "carpark"

[[devices]]
id = "gate-1"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 3
poll_interval = 0.2

[[devices]]
id = "gate-2"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 4
poll_interval = 0.2

[[access.gates]]
id = "main"
device = "gate-1"
zones = ["court-1"]

[[access.gates]]
id = "carpark"
device = "gate-2"
"""


def key_toml(table: str, kid: str, key: Ed25519PrivateKey) -> str:
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    return f'[[uplink.{table}]]\nkid = "{kid}"\npublic_key = "{public}"\n'


def booking(bid: str, *, member: str | None = None, plate: str | None = None) -> dict[str, Any]:
    """A confirmed booking of court-1 running now."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "booking_id": bid,
        "zone": "court-1",
        "start": (now - timedelta(minutes=10)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "member": member,
        "plate": plate,
    }


@dataclass
class VenueRig:
    daemon: Daemon
    stores: Stores
    cloud: CloudEmulator
    card: ReaderLine
    plate: ReaderLine
    openings: dict[str, int]
    """Gate id -> master writes of `true` to its relay coil (seen by the controller)."""
    decisions: list[AccessEvent] = field(default_factory=list)

    def rejected(self) -> list[dict[str, Any]]:
        return [e for e in self.cloud.received["event"] if e["kind"] == "bookings_rejected"]

    def alarm_state(self) -> str | None:
        rec = self.stores.alarms.get("bookings_refused:bookings")
        return None if rec is None else str(rec.state)

    async def scan(self, line: ReaderLine, text: str) -> AccessEvent:
        """One credential on a reader line; the daemon's decision for it."""
        before = len(self.decisions)
        line.send_line(text)
        await until(lambda: len(self.decisions) > before)
        return self.decisions[before]


async def until(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def venue_rig(
    tmp: Path,
    mqtt_port: int,
    *,
    booking_key: Ed25519PrivateKey | None = None,
    command_key: Ed25519PrivateKey | None = None,
) -> AsyncIterator[VenueRig]:
    """The venue with `[[uplink.booking_keys]]` / `command_keys` for the given keys (kids
    `bookings` and `cloud`, as the emulator signs), and an emulator holding those keys."""
    extra = ""
    if booking_key is not None:
        extra += key_toml("booking_keys", "bookings", booking_key)
    if command_key is not None:
        extra += key_toml("command_keys", "cloud", command_key)
    gates = {"main": RegisterBank(), "carpark": RegisterBank()}
    openings = dict.fromkeys(gates, 0)
    for gate_id, bank in gates.items():

        def count(table: str, address: int, values: Any, gate_id: str = gate_id) -> None:
            if table == "coil" and address == 0 and values and values[0]:
                openings[gate_id] += 1

        bank.on_write(count)
    card = ReaderLine("card-main", "card_reader", "main", link_dir=tmp / "dev")
    plate = ReaderLine("plate-cp", "plate_camera", "carpark", link_dir=tmp / "dev")
    async with AsyncExitStack() as stack:
        for line in (card, plate):
            await line.start()
            stack.push_async_callback(line.stop)
        units = [SimUnit(3, gates["main"]), SimUnit(4, gates["carpark"])]
        server = await stack.enter_async_context(serve_tcp(units))
        config = tmp / "venue.toml"
        config.write_text(
            VENUE.format(
                site=SITE,
                gw=GW,
                state=tmp / "state",
                run=tmp / "run",
                mqtt=mqtt_port,
                uplink_extra=extra,
                modbus=server.port,
                card=card.path,
                plate=plate.path,
            )
        )
        cloud = await stack.enter_async_context(
            CloudEmulator(
                "127.0.0.1", mqtt_port, SITE, GW, signing_key=command_key, booking_key=booking_key
            )
        )
        daemon = Daemon(config, load_venue(config), SystemClock(), Notifier(""))
        task = asyncio.create_task(daemon.run())
        await until(lambda: task.done() or "control" in daemon.supervisor.names, 30)
        assert not task.done() and daemon.stores is not None
        stores = daemon.stores
        rig = VenueRig(daemon, stores, cloud, card, plate, openings)
        try:
            with stores.access.subscribe(rig.decisions.append):
                await until(lambda: stores.link.connected)
                yield rig
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 15) == 0
    assert cloud.violations == [], cloud.violations[:5]
