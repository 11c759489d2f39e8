"""One damaged page in the outbox at restart: the queued messages still reach the broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from edge.clock import SimClock, SystemClock
from edge.storage import Database, kv
from edge.uplink import EventBody, PointValue, StateBody
from edge.uplink.outbox import SCHEMA as OUTBOX
from edge.uplink.outbox import Outbox
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests import brokers
from tests.storage.damage import checkpoint, pages, trash_page
from tests.uplink.conftest import GW, SITE, birth_provider, make_config
from tests.uplink.gateway import Gateway

mosquitto = brokers.mosquitto
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


async def test_ten_queued_access_events_survive_a_damaged_outbox_page(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """300 state messages then 10 access events queued while offline; a power cut damages
    the outbox page holding the oldest state rows. At restart the file is salvaged (not moved
    aside whole): the 10 access events arrive at mosquitto, and the report counts exactly the
    state rows of that page as lost."""
    path = tmp_path / "edged.db"
    db = Database.open(path)
    async with Outbox(db, SimClock(T0)) as box:
        for i in range(300):
            box.put_nowait(StateBody(points=[PointValue(point="hvac1.temp", value=i)]))
        access = [
            await box.put(EventBody(kind="access_decision", data={"granted": True, "n": i}))
            for i in range(10)
        ]
    db.close()
    checkpoint(path)
    first_leaf, cells = pages(path, "outbox", "leaf")[0]
    trash_page(path, first_leaf)

    db = await asyncio.to_thread(Database.open, path, [OUTBOX, kv.SCHEMA])
    report = db.report.salvage
    assert report is not None and db.report.recovered_from is not None
    assert report.by_table()["outbox"].lost == cells
    async with CloudEmulator(mosquitto.host, mosquitto.port, SITE, GW) as cloud:
        uplink = Gateway(make_config(mosquitto), site=SITE, gateway=GW, db=db,
                        clock=SystemClock(), birth=birth_provider)  # fmt: skip
        async with uplink:
            wanted = {a.msg_id for a in access}
            await cloud.wait_for(lambda: wanted <= set(cloud.unique("event")), within=15)
            await cloud.wait_for(lambda: len(cloud.unique("state")) == 300 - cells, within=15)
    db.close()
    assert cloud.violations == []
