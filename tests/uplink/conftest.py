"""Fixtures for uplink tests: a real mosquitto, a real SQLite file, the cloud emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from edge.clock import SystemClock
from edge.config.model import AccessKey
from edge.config.model import Uplink as UplinkSettings
from edge.storage import Database
from edge.uplink import BirthBody, BirthDevice, BirthPoint, BirthZone
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.brokers import mosquitto  # noqa: F401
from tests.uplink.gateway import Gateway

SITE, GW = "site1", "gw1"


def sample_birth() -> BirthBody:
    return BirthBody(
        zones=[BirthZone(id="court-1", kind="court", name="Court 1")],
        devices=[
            BirthDevice(
                id="hvac1",
                profile="generic_hvac",
                zone="court-1",
                location={"building": "A"},
                online=True,
                points=[
                    BirthPoint(
                        name="setpoint",
                        datatype="float32",
                        json_type="number",
                        unit="degC",
                        writable=True,
                        value=21.5,
                        quality="good",
                    ),
                    BirthPoint(
                        name="temp", datatype="float32", json_type="number", unit="degC", value=20.1
                    ),
                ],
            )
        ],
        software="edged-test",
    )


async def birth_provider() -> BirthBody:
    return sample_birth()


def make_config(broker: MosquittoBroker, **overrides: Any) -> UplinkSettings:
    """`[uplink]` for `broker`; `command_keys={"kid": public_key_b64}` signs commands."""
    base: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "keepalive": 5,
        "backoff_initial_s": 0.1,
        "backoff_cap_s": 0.5,
        "inflight": 20,
    }
    keys = overrides.pop("command_keys", {})
    base["command_keys"] = [AccessKey(kid=k, public_key=v) for k, v in keys.items()]
    base.update(overrides)
    return UplinkSettings(**base)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "edged.db")
    try:
        yield database
    finally:
        database.close()


@pytest_asyncio.fixture
async def cloud(mosquitto: MosquittoBroker) -> AsyncIterator[CloudEmulator]:  # noqa: F811
    async with CloudEmulator(mosquitto.host, mosquitto.port, SITE, GW) as emulator:
        yield emulator
    assert emulator.violations == [], emulator.violations[:5]


UplinkFactory = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def make_uplink(mosquitto: MosquittoBroker, db: Database) -> UplinkFactory:  # noqa: F811
    def factory(**kwargs: Any) -> Gateway:
        cfg_over = kwargs.pop("config", {})
        return Gateway(
            make_config(mosquitto, **cfg_over),
            site=SITE,
            gateway=GW,
            db=kwargs.pop("db", db),
            clock=kwargs.pop("clock", SystemClock()),
            birth=kwargs.pop("birth", birth_provider),
            **kwargs,
        )

    return factory
