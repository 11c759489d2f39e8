"""Command lifetime and replay, through a real mosquitto and a real SQLite file: a command
that would live longer than the bound is refused at receipt, and a captured command replayed
after a restart (at once, or days later) never executes again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.clock import SimClock
from edge.config.model import Uplink
from edge.storage import Database
from edge.uplink import Command
from edge.uplink.signing import public_key_b64, sign
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.uplink.conftest import GW, SITE, UplinkFactory

KEY = Ed25519PrivateKey.generate()
DAY = timedelta(days=1)


class Gate:
    """The `open_gate` handler: counts what would have pulsed the relay."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    async def open(self, cmd: Command) -> dict[str, Any]:
        self.opened.append(cmd.cmd_id)
        return {"opened": True}


def signed_body(cloud: CloudEmulator, args: dict[str, Any]) -> dict[str, Any]:
    return sign(cloud.topics.cmd("open_gate"), args, KEY, "cloud")


@pytest.fixture
async def signing_cloud(mosquitto: MosquittoBroker) -> Any:
    async with CloudEmulator(
        mosquitto.host, mosquitto.port, SITE, GW, signing_key=KEY, kid="cloud"
    ) as cloud:
        yield cloud
    assert cloud.violations == []


def keyed(**over: Any) -> dict[str, Any]:
    return {"config": {"command_keys": {"cloud": public_key_b64(KEY)}, **over}}


async def test_long_lived_signed_commands_are_refused_at_receipt(
    signing_cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """Validly signed, but living too long: a 30-day expiry, `expires_at - issued_at` of
    2 h, and an `issued_at` 29 days ahead with a short span: all `lifetime_too_long`,
    nothing executed; a 50-minute command still runs."""
    cloud, gate = signing_cloud, Gate()
    now = datetime.now(UTC)
    async with make_uplink(handlers={"open_gate": gate.open}, **keyed()) as up:
        await up.connected_event.wait()
        month = await cloud.command("open_gate", {"gate": "main"}, expires_in=30 * 86400)
        assert (month["ok"], month["code"]) == (False, "lifetime_too_long")
        assert "command_max_lifetime_s" in month["message"]
        spans = [
            {"issued_at": now - timedelta(minutes=90), "expires_at": now + timedelta(minutes=30)},
            {"issued_at": now + 29 * DAY, "expires_at": now + 29 * DAY + timedelta(minutes=5)},
        ]
        for i, span in enumerate(spans):
            body = signed_body(
                cloud,
                {"cmd_id": f"span-{i}", "gate": "main",
                 **{k: v.isoformat() for k, v in span.items()}},
            )  # fmt: skip
            res = await cloud.command("open_gate", body=body)
            assert (res["ok"], res["code"]) == (False, "lifetime_too_long"), res
        ok = await cloud.command("open_gate", {"gate": "main"}, expires_in=50 * 60)
        assert ok["ok"] and ok["code"] == "ok"
    assert gate.opened == [ok["cmd_id"]]


async def test_the_bound_is_configurable_up_to_24_hours(
    signing_cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """`command_max_lifetime_s = 86400`: a 23 h command runs, a 25 h one does not; more than
    24 h is refused when the config is decoded."""
    gate = Gate()
    async with make_uplink(
        handlers={"open_gate": gate.open}, **keyed(command_max_lifetime_s=86400.0)
    ) as up:
        await up.connected_event.wait()
        day = await signing_cloud.command("open_gate", {"gate": "main"}, expires_in=23 * 3600)
        more = await signing_cloud.command("open_gate", {"gate": "main"}, expires_in=25 * 3600)
    assert (day["code"], more["code"]) == ("ok", "lifetime_too_long")
    assert gate.opened == [day["cmd_id"]]
    with pytest.raises(msgspec.ValidationError, match="command_max_lifetime_s"):
        msgspec.convert({"command_max_lifetime_s": 86401}, Uplink)


async def test_a_replay_after_restart_never_executes(
    tmp_path: Path,
    signing_cloud: CloudEmulator,
    make_uplink: UplinkFactory,
) -> None:
    """A signed open_gate runs once. Replayed byte for byte after a restart (a new process
    on the same database file) it gets the stored answer and does not run; replayed after a
    restart 8 days later (the remembered id pruned) it is `expired`: the gate opened once."""
    cloud, gate = signing_cloud, Gate()
    path = tmp_path / "gw.db"
    start = datetime.now(UTC)
    body = cloud.command_body("open_gate", {"gate": "main"}, expires_in=300, now=start)
    answers = []
    for days_later in (0, 0, 8):
        db = Database.open(path)  # each round is a fresh process's view of the file
        try:
            clock = SimClock(start + days_later * DAY, rate=1.0)
            up = make_uplink(db=db, clock=clock, handlers={"open_gate": gate.open}, **keyed())
            async with up:
                await up.connected_event.wait()
                answers.append(await cloud.command("open_gate", body=body))
                await asyncio.sleep(0.2)  # a late second execution would show here
        finally:
            db.close()
    strip = ("msg_id", "seq", "session", "ts", "_retained")
    first, again, later = ({k: v for k, v in a.items() if k not in strip} for a in answers)
    assert first["ok"] and first["result"] == {"opened": True}
    assert again == first  # the stored answer, not a second execution
    assert (later["ok"], later["code"]) == (False, "expired")
    assert gate.opened == [body["cmd_id"]]


async def test_the_id_store_is_bounded_by_expiry(tmp_path: Path) -> None:
    """100 executed commands with a 60 s expiry: an hour after they expired their ids are
    forgotten (one row left: the newest), and a replay of one is `expired`, not run."""
    from edge.uplink import CmdResBody, CommandProcessor
    from edge.uplink.commands import KEEP_AFTER_EXPIRY_S

    db = Database.open(tmp_path / "ids.db")
    clock = SimClock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    answers: list[CmdResBody] = []
    gate = Gate()

    async def respond(res: CmdResBody) -> None:
        answers.append(res)

    proc = CommandProcessor(db, clock, respond, {"open_gate": gate.open})
    await proc.start()
    topic = "edge/v1/site1/gw1/cmd/open_gate"

    def body(cmd_id: str) -> bytes:
        expires = (clock.now() + timedelta(seconds=60)).isoformat()
        return msgspec.json.encode({"cmd_id": cmd_id, "expires_at": expires, "gate": "g"})

    first = body("c-0")
    for i in range(100):
        await proc.handle(topic, "open_gate", first if i == 0 else body(f"c-{i}"))

    def count(c: Any) -> int:
        return int(c.execute("SELECT count(*) FROM cmd_results").fetchone()[0])

    assert await db.run(count) == 100
    await clock.advance(60 + KEEP_AFTER_EXPIRY_S + 1)
    await proc.handle(topic, "open_gate", body("c-new"))
    after = await db.run(count)
    replay = await proc.handle(topic, "open_gate", first)
    db.close()
    assert after == 1
    assert replay.code == "expired" and len(gate.opened) == 101


async def test_old_rows_without_expiry_are_kept_seven_days(tmp_path: Path) -> None:
    """A database from before the expiry column: migrated in place; its rows are forgotten
    7 days after receipt, as they were."""
    from edge.storage import Schema
    from edge.uplink import CommandProcessor
    from edge.uplink.commands import SCHEMA

    now = datetime(2026, 5, 10, tzinfo=UTC)
    db = Database.open(tmp_path / "old.db")
    await db.migrate(Schema(component="commands", steps=[SCHEMA.steps[0]]))
    for cmd_id, age in (("old", 8 * DAY), ("recent", DAY)):
        received = (now - age).timestamp()
        await db.run(
            lambda c, i=cmd_id, r=received: c.execute(
                "INSERT INTO cmd_results(cmd_id, name, state, received, result) "
                "VALUES (?, 'open_gate', 'done', ?, x'7b7d')",
                (i, r),
            )
        )

    async def respond(res: object) -> None:
        return None

    await CommandProcessor(db, SimClock(now), respond, {}).start()
    left = await db.run(lambda c: [r[0] for r in c.execute("SELECT cmd_id FROM cmd_results")])
    db.close()
    assert left == ["recent"]
