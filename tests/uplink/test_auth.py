"""Credentials, protocol versions and signed commands end to end through mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.clock import SystemClock
from edge.storage import Database
from edge.uplink import Command, EventBody
from edge.uplink.signing import public_key_b64
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.uplink.conftest import GW, SITE, UplinkFactory, birth_provider, make_config
from tests.uplink.gateway import Gateway


async def test_bad_password_raises_alarm_and_retries_slowly(tmp_path: Path) -> None:
    """Refused credentials: the link state says so (the alarm detector reads it) and the
    retry waits auth_retry_s (no tight loop)."""
    with MosquittoBroker(workdir=tmp_path / "mq", users={"gw1": "right"}) as broker:
        pw = tmp_path / "pw"
        pw.write_text("wrong\n")
        db = Database.open(tmp_path / "gw.db")
        cfg = make_config(broker, username="gw1", password_file=str(pw), auth_retry_s=30.0)
        up = Gateway(cfg, site=SITE, gateway=GW, db=db, clock=SystemClock(), birth=birth_provider)
        async with up:
            await asyncio.sleep(1.5)
            status = await up.status()
            attempts = await up.attempts()
        db.close()
    assert attempts == 1  # one attempt in 1.5 s: the retry is 30 s away
    assert status.connected is False and status.last_error and "code:" in status.last_error
    assert status.auth_failure == status.last_error


async def test_right_password_connects_over_mqtt_311(tmp_path: Path) -> None:
    """Username/password from a file, MQTT 3.1.1 selected: connects and delivers."""
    with MosquittoBroker(workdir=tmp_path / "mq", users={"gw1": "s3cret"}) as broker:
        pw = tmp_path / "pw"
        pw.write_text("s3cret\n")
        db = Database.open(tmp_path / "gw.db")
        cfg = make_config(broker, username="gw1", password_file=str(pw), protocol=311)
        async with Gateway(
            cfg, site=SITE, gateway=GW, db=db, clock=SystemClock(), birth=birth_provider
        ) as up:
            await asyncio.wait_for(up.connected_event.wait(), 5)
            await up.put(EventBody(kind="operation"))
            await asyncio.wait_for(up.outbox.wait_empty(), 5)
            assert (await up.status()).connected
        db.close()


async def test_signed_gate_command_through_broker(
    cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """With signing required, the emulator's signed open_gate runs; an unsigned one is refused."""
    key = Ed25519PrivateKey.generate()
    opened: list[str] = []

    async def open_gate(cmd: Command) -> dict[str, object]:
        opened.append(cmd.cmd_id)
        return {"opened": True}

    keys = {"cloud": public_key_b64(key)}
    async with make_uplink(config={"command_keys": keys}, handlers={"open_gate": open_gate}) as up:
        await up.connected_event.wait()
        cloud.signing_key = key
        ok = await cloud.command("open_gate", {"gate": "main"})
        refused = await cloud.command("open_gate", {"gate": "main"}, signed=False)
        again = await cloud.command(
            "open_gate", body=cloud.command_body("open_gate", {"gate": "main"}, cmd_id=ok["cmd_id"])
        )
    assert (ok["ok"], ok["result"]) == (True, {"opened": True})
    assert (refused["ok"], refused["code"]) == (False, "signature_required")
    assert again["code"] == "ok" and opened == [ok["cmd_id"]]
