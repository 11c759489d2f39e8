"""Broker, database and cloud emulator fixtures shared with the uplink tests."""

from tests.brokers import mosquitto  # noqa: F401
from tests.uplink.conftest import cloud, db, make_uplink  # noqa: F401
