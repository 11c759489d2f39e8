"""The test broker itself: stop/start on the same port, persistence, the amqtt fallback."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from pathlib import Path

import pytest

from edge.clock import SystemClock
from edge.config.model import Uplink as UplinkSettings
from edge.storage import Database
from edge.uplink import EventBody
from sim.broker import AmqttBroker, BrokerUnavailable, MosquittoBroker, open_broker
from tests.uplink.conftest import GW, SITE, birth_provider
from tests.uplink.gateway import Gateway


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_stop_start_kill_keep_the_port(mosquitto: MosquittoBroker) -> None:
    """stop() and kill() close the port; start() serves the same port again."""
    port = mosquitto.port
    assert listening(port)
    mosquitto.stop()
    assert not listening(port) and not mosquitto.running
    mosquitto.start()
    assert listening(port) and mosquitto.port == port
    mosquitto.kill()
    assert not listening(port)
    mosquitto.restart()
    assert listening(port)
    conf = (mosquitto.workdir / "mosquitto.conf").read_text()
    assert "max_queued_messages 0" in conf and "persistence true" in conf


@pytest.mark.skipif(importlib.util.find_spec("amqtt") is not None, reason="amqtt installed")
async def test_amqtt_fallback_names_the_fix_when_missing() -> None:
    """Without amqtt the embedded fallback fails with the install command."""
    with pytest.raises(BrokerUnavailable, match=r"edged\[sim\]"):
        AmqttBroker()
    with pytest.raises(BrokerUnavailable):
        async with open_broker(prefer="amqtt"):
            pass


@pytest.mark.skipif(importlib.util.find_spec("amqtt") is None, reason="amqtt not installed")
async def test_amqtt_fallback_carries_the_uplink_over_mqtt_311(tmp_path: Path) -> None:
    """The embedded amqtt broker (demo fallback) serves the uplink with protocol 311."""
    async with open_broker(prefer="amqtt") as broker:
        assert isinstance(broker, AmqttBroker)
        cfg = UplinkSettings(host=broker.host, port=broker.port, protocol=311)
        db = Database.open(tmp_path / "gw.db")
        async with Gateway(
            cfg, site=SITE, gateway=GW, db=db, clock=SystemClock(), birth=birth_provider
        ) as up:
            await asyncio.wait_for(up.connected_event.wait(), 5)
            await up.put(EventBody(kind="operation"))
            await asyncio.wait_for(up.outbox.wait_empty(), 5)
        db.close()
