"""Shared broker fixture: a real mosquitto on a free loopback port, cleaned up after the test.

Use it from any test package with `from tests.brokers import mosquitto  # noqa: F401` (or
list it in a conftest). The object has `host`, `port`, `stop()` (SIGTERM), `kill()`,
`start()` (same port again) and `restart()`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.broker import MosquittoBroker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running mosquitto, data and config under tmp_path; stopped after the test."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    broker = MosquittoBroker(workdir=tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
