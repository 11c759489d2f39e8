"""The published contract: shipped schemas are current, bodies and wire types agree."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from edge.config.model import Uplink as UplinkSettings
from edge.uplink import schemas
from edge.uplink.backoff import Backoff
from edge.uplink.config import OutboxConfig, outbox_config
from edge.uplink.contract import BODY_OF, Envelope, State, Topics
from sim.cloud import schema_errors


def test_shipped_schemas_equal_generated() -> None:
    """edge/uplink/schemas/*.json match the types (regenerate: python -m edge.uplink.schemas)."""
    generated = schemas.generate()
    shipped = {p.name: p.read_text(encoding="utf-8") for p in schemas.DIR.glob("*.json")}
    assert shipped == generated


@pytest.mark.parametrize("wire", list(BODY_OF), ids=lambda t: t.__name__)
def test_wire_type_is_envelope_plus_body(wire: type[msgspec.Struct]) -> None:
    """Every wire type has exactly the envelope fields plus its body's fields, same types."""
    envelope = set(Envelope.__struct_fields__)
    body = BODY_OF[wire]
    assert set(wire.__struct_fields__) == envelope | set(body.__struct_fields__)
    wire_types = {f.name: f.type for f in msgspec.structs.fields(wire)}
    for f in msgspec.structs.fields(body):
        assert wire_types[f.name] == f.type, f.name


def test_schema_check_rejects_what_the_contract_forbids() -> None:
    """The emulator's schema check catches a missing seq, a naive ts and a wrong type."""
    schema = schemas.load("state")
    good: dict[str, Any] = msgspec.to_builtins(
        State(session=1, seq=1, msg_id="m", ts=datetime(2026, 1, 1, tzinfo=UTC), points=[])
    )
    assert schema_errors(good, schema, schema) == []
    assert schema_errors({k: v for k, v in good.items() if k != "seq"}, schema, schema)
    assert schema_errors({**good, "ts": "2026-01-01T00:00:00"}, schema, schema)
    assert schema_errors({**good, "session": "1"}, schema, schema)
    assert schema_errors({**good, "stream": "event"}, schema, schema)


def test_topics_and_bad_ids() -> None:
    """Topic root is edge/v1/{site}/{gateway}/; wildcard characters in ids are refused."""
    t = Topics("wcp", "gw-1")
    assert t.up("state") == "edge/v1/wcp/gw-1/state"
    assert t.cmd("open_gate") == "edge/v1/wcp/gw-1/cmd/open_gate"
    assert t.relative("edge/v1/wcp/gw-1/bookings/delta") == "bookings/delta"
    assert t.relative("edge/v1/wcp/gw-2/state") is None
    for bad in ("a/b", "+", "#", ""):
        with pytest.raises(ValueError, match="MQTT topic"):
            Topics(bad, "gw")


def test_config_decodes_uplink_table_and_refuses_typos() -> None:
    """[uplink] decodes into the venue's frozen struct; unknown keys and bad values fail."""
    cfg = msgspec.convert(
        {
            "host": "mqtt.example.net",
            "port": 8883,
            "protocol": 311,
            "ca_file": "/etc/edged/ca.pem",
            "outbox_max_messages": 1000,
            "inflight": 50,
        },
        type=UplinkSettings,
    )
    assert (cfg.port, cfg.protocol, cfg.inflight, cfg.uses_tls) == (8883, 311, 50, True)
    with pytest.raises(msgspec.ValidationError, match="prot"):
        msgspec.convert({"protocl": 5}, type=UplinkSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"protocol": 4}, type=UplinkSettings)
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]


def test_backoff_grows_jittered_and_capped() -> None:
    """Delays double (with jitter in the upper half) up to the cap, and reset."""
    b = Backoff(1.0, 60.0, random.Random(1))
    delays = [b.next() for _ in range(12)]
    for i, d in enumerate(delays):
        ceiling = min(60.0, 2.0**i)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 60.0
    b.reset()
    assert b.next() <= 1.0


def test_outbox_bounds_come_from_the_one_uplink_declaration() -> None:
    """The outbox's bounds are the venue's `[uplink]` keys, with the same defaults."""
    cfg = outbox_config(UplinkSettings(outbox_max_age_h=48, inflight=7))
    assert cfg.max_age_s == 48 * 3600 and cfg.inflight == 7
    assert outbox_config(UplinkSettings()) == OutboxConfig()
