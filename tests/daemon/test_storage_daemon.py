"""The running daemon and its database file: a file deleted under edged is noticed and
recreated with an alarm, and a single-entry pass used before stays used; when counts may
have been lost, counted passes from before fail closed."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access import AccessStore, PassFields, QrCredential, Reason, issue_pass
from edge.access.booking_index import BookingIndex
from edge.access.context import GateSpec, SiteAccess
from edge.access.keys import KeyRing
from edge.access.loss import CountsLoss
from edge.access.records import AccessEvent
from edge.access.store import SCHEMA as ACCESS_SCHEMA
from edge.alarms import AlarmRecord, AlarmState
from edge.clock import SystemClock
from edge.storage import Database
from edge.storage.events import FileRecreated
from rules.model import Booking
from sim.broker import MosquittoBroker
from tests import brokers
from tests.daemon.rig import book, daemon_rig, until
from tests.storage.disks import SmallDisk

mosquitto = brokers.mosquitto
ACTIVE, RETURNED = AlarmState.ACTIVE, AlarmState.RETURNED


async def test_a_database_deleted_under_edged_is_noticed_and_a_used_pass_stays_used(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with daemon_rig(tmp_path, mosquitto.port) as rig:
        decisions: list[AccessEvent] = []
        with rig.stores.access.subscribe(decisions.append):
            await book(rig.stores)
            token = rig.token("p-once")
            rig.scanner.send_line(token)
            await until(lambda: len(decisions) == 1)
            assert decisions[0].granted, decisions[0]
            db = tmp_path / "state" / "edged.db"
            await asyncio.to_thread(remove, db)
            deleted = asyncio.get_running_loop().time()

            def alarmed() -> bool:
                rec = rig.stores.alarms.get("storage_error:database")
                return rec is not None and "deleted" in rec.message

            await until(alarmed, timeout_s=12)
            noticed_s = asyncio.get_running_loop().time() - deleted
            assert noticed_s < 10, noticed_s
            assert db.exists()
            rig.scanner.send_line(token)
            await until(lambda: len(decisions) == 2)
            assert not decisions[1].granted
            assert decisions[1].reason in ("used_up", "passback"), decisions[1]
            await rig.stores.journal.flush()
            rows = await rig.edgectl("journal", {"kind": "storage"})
            kinds = {(row["kind"], row["subject"]) for row in rows}
            assert ("storage", "file_deleted") in kinds, kinds
        print(f"\ndatabase deleted -> storage_error in {noticed_s:.1f} s (watch every 5 s)")


def remove(db: Path) -> None:
    for side in ("", "-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)


KEY = Ed25519PrivateKey.generate()
NOW = datetime.now(UTC).replace(microsecond=0)


def _token(pass_id: str, not_before: datetime, entries: int = 1) -> str:
    fields = PassFields(
        pass_id=pass_id, booking_id="b-1", site="s", not_before=not_before,
        expires=NOW + timedelta(hours=2), entries=entries, zones=("z",),
    )  # fmt: skip
    return issue_pass(KEY, "k1", fields)


@asynccontextmanager
async def access_on(path: Path) -> AsyncIterator[tuple[Database, AccessStore, CountsLoss]]:
    db = await asyncio.to_thread(Database.open, path)
    await db.migrate(ACCESS_SCHEMA)
    loss = await CountsLoss.open(db, SystemClock())
    public = base64.b64encode(KEY.public_key().public_bytes_raw()).decode()
    keys = KeyRing.from_mapping({"k1": public})
    site = SiteAccess.build("s", keys, [GateSpec("g", frozenset({"z"}))])
    booking = Booking(
        booking_id="b-1", zone="z", start=NOW - timedelta(minutes=10),
        end=NOW + timedelta(hours=1), member="m-1", version=1,
    )  # fmt: skip
    index = BookingIndex("s", [booking])
    store = AccessStore(db, site, lambda conn: index, loss)
    try:
        yield db, store, loss
    finally:
        loss.close()
        db.close()


async def test_a_file_rebuilt_from_memory_refuses_counted_passes_from_before_even_after_restart(
    tmp_path: Path,
) -> None:
    """The old file could not be copied (the worst case): usage rows are gone, so a used
    single-entry pass would look unused. It is refused (entries_unknown), after a restart
    too; a pass issued after the loss, and an unlimited pass, still work."""
    path = tmp_path / "edged.db"
    before = NOW - timedelta(minutes=5)
    async with access_on(path) as (db, store, loss):
        used = await store.decide(QrCredential(_token("p-1", before)), "g", NOW)
        assert used.granted
        await asyncio.to_thread(remove, path)
        event = await db.check_file(copy_old=False)
        assert isinstance(event, FileRecreated) and not event.copied
        assert loss.lost_at is not None
        again = await store.decide(QrCredential(_token("p-1", before)), "g", NOW)
        assert (again.granted, again.reason) == (False, Reason.ENTRIES_UNKNOWN)
        await asyncio.sleep(0.05)  # the mark's write
    async with access_on(path) as (db, store, loss):
        assert loss.lost_at is not None  # remembered across a restart
        again = await store.decide(QrCredential(_token("p-1", before)), "g", NOW)
        assert again.reason is Reason.ENTRIES_UNKNOWN
        issued = loss.lost_at.replace(microsecond=0) + timedelta(seconds=1)
        fresh = _token("p-2", issued)
        assert (await store.decide(QrCredential(fresh), "g", issued + timedelta(seconds=1))).granted
        unlimited = _token("p-3", before, entries=0)
        assert (await store.decide(QrCredential(unlimited), "g", NOW)).granted


async def test_a_full_disk_raises_storage_error_within_seconds_and_a_good_commit_returns_it(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """The state directory on a 4 MB tmpfs that fills while edged runs: `storage_error`
    is active within seconds of the first failed commit (edged keeps running and
    answering), and returns to normal after the first good commit once space is back."""
    disk = SmallDisk(tmp_path / "state", size_mb=4)
    try:
        disk.mount()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root, as in CI): {exc.stderr.strip()}")
    try:
        async with daemon_rig(tmp_path, mosquitto.port) as rig:
            loop = asyncio.get_running_loop()

            def alarm() -> AlarmRecord | None:
                return rig.stores.alarms.get("storage_error:database")

            await asyncio.to_thread(disk.fill)
            filled = loop.time()
            # Something must be written: point changes go to the outbox.
            rig.hvac.set_input(0, [231] * 20)
            rig.hvac.set_holding(0, [1] * 20)
            await until(lambda: (a := alarm()) is not None and a.state is ACTIVE, timeout_s=30)
            raised_s = loop.time() - filled
            assert (await rig.edgectl("ping")) is not None  # still answering
            await asyncio.to_thread(disk.resize, 64)
            grown = loop.time()
            await until(lambda: (a := alarm()) is not None and a.state is RETURNED, timeout_s=30)
            returned_s = loop.time() - grown
            assert "uplink" in rig.daemon.supervisor.names
        print(
            f"\ndisk full -> storage_error active in {raised_s:.1f} s; "
            f"space back -> returned to normal in {returned_s:.1f} s"
        )
    finally:
        disk.unmount()


async def test_bookings_are_written_back_into_a_file_rebuilt_from_memory(tmp_path: Path) -> None:
    from edge.bookings.store import BookingStore

    path = tmp_path / "edged.db"
    db = await asyncio.to_thread(Database.open, path)
    store = await BookingStore.open(db)
    b = Booking(
        booking_id="b-9", zone="z", start=NOW, end=NOW + timedelta(hours=1), member="m", version=3
    )
    await store.replace_all(7, [b])
    await asyncio.to_thread(remove, path)
    event = await db.check_file(copy_old=False)
    assert isinstance(event, FileRecreated) and not event.copied
    db.close()
    db = await asyncio.to_thread(Database.open, path)
    again = await BookingStore.open(db)
    assert again.version == 7 and [x.booking_id for x in again.snapshot()] == ["b-9"]
    db.close()
