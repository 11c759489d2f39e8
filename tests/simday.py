"""The real daemon in this process on a stepped clock, against a simulated venue.

Shared by the day-long tests: bookings are seeded into the daemon's database before it
starts, and after each clock step the test waits until no write is in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from edge.bookings.store import BookingStore
from edge.clock import SimClock
from edge.daemon import Daemon
from edge.notify import Notifier
from edge.storage import Database
from edge.venue import load_venue
from rules.model import Booking
from sim.venue import SimVenue

BookingRow = tuple[str, str, datetime, datetime, str]
"""(booking id, zone, start, end, status)."""


def site_header(site_id: str, state: Path, run: Path) -> str:
    return f"""
[site]
id = "{site_id}"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[storage]
dir = "{state}"
runtime_dir = "{run}"
"""


def devices_toml(devices: Iterable[tuple[str, str, str]], bus: str, poll_interval: float) -> str:
    """`[[devices]]` blocks for (id, profile, zone) on one Modbus bus, unit ids from 1."""
    return "".join(
        f"""
[[devices]]
id = "{d}"
profile = "{p}"
bus = "{bus}"
unit_id = {i}
zone = "{z}"
poll_interval = {poll_interval}
"""
        for i, (d, p, z) in enumerate(devices, start=1)
    )


async def seed(state: Path, rows: Iterable[BookingRow]) -> None:
    db = Database.open(state / "edged.db")  # creates the directory
    store = await BookingStore.open(db)
    await store.replace_all(
        1,
        [
            Booking(booking_id=i, zone=z, start=s, end=e, status=st, member="m", version=1)  # type: ignore[arg-type]
            for i, z, s, e, st in rows
        ],
    )
    db.close()


async def quiet(daemon: Daemon) -> None:
    """Let real I/O finish: no write in flight for a few consecutive loop checks."""
    calm = 0
    for _ in range(400):
        await asyncio.sleep(0.002)
        rec = daemon.stores.outputs if daemon.stores else None
        calm = calm + 1 if rec is not None and not rec.busy else 0
        if calm >= 3:
            return


@asynccontextmanager
async def daemon_on(
    venue: SimVenue, clock: SimClock, rows: Iterable[BookingRow] | None
) -> AsyncIterator[Daemon]:
    """edged on the venue's runtime config with `rows` booked (None: the database is left
    as it is, for a restart); stops cleanly (exit 0). Hook what you observe, then
    `quiet()` before the first step."""
    v = load_venue(venue.runtime_config_path)
    if rows is not None:
        await seed(Path(v.config.storage.dir), rows)
    daemon = Daemon(venue.runtime_config_path, v, clock, Notifier(""))
    task = asyncio.create_task(daemon.run())
    for _ in range(500):
        if daemon.stores is not None and "control" in daemon.supervisor.names:
            break
        await asyncio.sleep(0.01)
    assert daemon.stores is not None and "automation" in daemon.supervisor.names
    try:
        yield daemon
    except BaseException:
        daemon.request_stop()
        await asyncio.wait_for(task, 10)
        raise
    daemon.request_stop()
    assert await asyncio.wait_for(task, 10) == 0
