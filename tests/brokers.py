"""Shared broker fixture: a real mosquitto on a free loopback port, cleaned up after the test.

Use it from any test package with `from tests.brokers import mosquitto  # noqa: F401` (or
list it in a conftest). The object has `host`, `port`, `stop()` (SIGTERM), `kill()`,
`start()` (same port again) and `restart()`.
"""

from __future__ import annotations

import asyncio
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


async def publish_lines(port: int, topic: str, lines: bytes, qos: int = 0) -> None:
    """An attacker on the broker, in a process of its own: one message per line of `lines`,
    as fast as `mosquitto_pub -l` sends them."""
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-l",
        stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await proc.communicate(lines)
    assert proc.returncode == 0, f"mosquitto_pub exited with {proc.returncode}"
