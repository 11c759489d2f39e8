"""Secure by default: `edgectl config check` (and edged at start) refuse a venue that
would accept unsigned commands or bookings from a broker off the machine, a TLS port with
TLS off, or a key anyone can derive; the shipped example passes as it is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from edge.alarms import AlarmsConfig, AlarmService
from edge.clock import SystemClock
from edge.config.insecure import PUBLISHED_KEYS
from edge.field.points import PointTable
from edge.storage import Database
from edge.venue import load_venue
from tests.alarms.rig import open_engine

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "venue.toml").read_text(encoding="utf-8")
DEMO_KEY = next(iter(PUBLISHED_KEYS))


def check(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "venue.toml"
    path.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "config", "check", str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return out.returncode, out.stdout + out.stderr


def without(text: str, table: str) -> str:
    """`text` without the `[[table]]` blocks (kid and public_key lines)."""
    return re.sub(rf"\[\[{re.escape(table)}\]\]\nkid = .*\npublic_key = .*\n", "", text)


def test_the_shipped_example_is_secure_as_it_is(tmp_path: Path) -> None:
    code, out = check(tmp_path, EXAMPLE)
    assert code == 0, out
    assert not any(key in EXAMPLE for key in PUBLISHED_KEYS)


def test_each_insecure_setting_is_named(tmp_path: Path) -> None:
    demo = re.sub(r'(\[\[access\.keys\]\]\nkid = .*\npublic_key = )".*"',
                  rf'\1"{DEMO_KEY}"', EXAMPLE)  # fmt: skip
    unsigned = without(without(EXAMPLE, "uplink.command_keys"), "uplink.booking_keys")
    plain = EXAMPLE.replace("tls = true", "tls = false")
    vector = EXAMPLE.replace(re.findall(r'public_key = "(.*)"', EXAMPLE)[0],
                             list(PUBLISHED_KEYS)[1])  # fmt: skip
    assert len({demo, unsigned, plain, vector, EXAMPLE}) == 5  # each edit took
    code, out = check(tmp_path, vector)
    assert code == 78 and "test vector" in out, out
    for text, needles in (
        (demo, ["access.keys[0].public_key", "demo pass key", "anyone can sign"]),
        (unsigned, ["uplink.command_keys", "uplink.booking_keys", "accepted unsigned"]),
        (plain, ["uplink.port", "port 8883 is MQTT over TLS"]),
    ):
        code, out = check(tmp_path, text)
        assert code == 78, out
        for needle in needles:
            assert needle in out, out
    everything = without(without(demo, "uplink.command_keys"), "uplink.booking_keys")
    code, out = check(tmp_path, everything.replace("tls = true", "tls = false"))
    assert code == 78 and "4 problem(s)" in out, out


def test_unsigned_on_a_local_broker_or_when_allowed(tmp_path: Path) -> None:
    """A broker on this machine needs no keys; elsewhere `allow_unsigned = true` is the
    explicit choice, and then a warning alarm stays active."""
    unsigned = without(without(EXAMPLE, "uplink.command_keys"), "uplink.booking_keys")
    local = unsigned.replace('host = "mqtt.example.com"\nport = 8883',
                             'host = "127.0.0.1"\nport = 1883')  # fmt: skip
    assert check(tmp_path, local)[0] == 0
    allowed = unsigned.replace("tls = true", "tls = true\nallow_unsigned = true")
    assert check(tmp_path, allowed)[0] == 0


async def test_allow_unsigned_keeps_a_warning_alarm_active(tmp_path: Path) -> None:
    unsigned = without(without(EXAMPLE, "uplink.command_keys"), "uplink.booking_keys")
    path = tmp_path / "venue.toml"
    path.write_text(unsigned.replace("tls = true", "tls = true\nallow_unsigned = true"))
    cfg = load_venue(path).config
    db = Database.open(tmp_path / "edge.db")
    engine = await open_engine(db, AlarmsConfig())
    svc = AlarmService(cfg, AlarmsConfig(), engine, SystemClock(), PointTable())
    svc.tick()
    rec = engine.get("unsigned_accepted:uplink")
    assert rec is not None and rec.severity.value == "warning", rec
    assert "commands and bookings accepted unsigned from mqtt.example.com" in rec.message
    db.close()
