"""Commands: validation, signatures, at-most-once execution, expiry, guardrails, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.clock import SimClock
from edge.storage import Database
from edge.uplink import CmdResBody, Command, CommandProcessor, CommandRefused
from edge.uplink.contract import COMMANDS, SetPoint, Topics
from edge.uplink.signing import Verifier, public_key_b64, sign

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TOPICS = Topics("site1", "gw1")
KEY = Ed25519PrivateKey.generate()


class Harness:
    """`unverified_answers` is off by default: these tests are about what each command is
    answered with; the cap has its own test."""

    def __init__(
        self,
        db: Database,
        clock: SimClock,
        required: bool = False,
        unverified_answers: tuple[float, int] | None = None,
    ) -> None:
        self.answers: list[CmdResBody] = []
        self.executed: list[Command] = []
        self.clock = clock

        async def respond(res: CmdResBody) -> None:
            self.answers.append(res)

        async def handler(cmd: Command) -> dict[str, Any] | None:
            self.executed.append(cmd)
            return {"done": True}

        def guardrail(cmd: Command) -> None:
            if isinstance(cmd, SetPoint):
                if cmd.point != "hvac1.setpoint":
                    raise CommandRefused("not_writable", f"{cmd.point} is not writable")
                if not 16 <= float(cmd.value) <= 28:
                    raise CommandRefused("out_of_range", "setpoint limits are 16..28 degC")

        self.proc = CommandProcessor(
            db,
            clock,
            respond,
            {name: handler for name in COMMANDS},
            verifier=Verifier({"k1": public_key_b64(KEY)}, required=required),
            guardrail=guardrail,
            unverified_answers=unverified_answers,
        )

    def body(self, name: str, signed: bool = False, **args: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cmd_id": args.pop("cmd_id", "c1"),
            "expires_at": (self.clock.now() + timedelta(seconds=60)).isoformat(),
            **args,
        }
        return sign(TOPICS.cmd(name), body, KEY, "k1") if signed else body

    async def send(self, name: str, body: dict[str, Any] | bytes) -> CmdResBody:
        payload = body if isinstance(body, bytes) else msgspec.json.encode(body)
        return await self.proc.handle(TOPICS.cmd(name), name, payload)


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    db = Database.open(tmp_path / "c.db")
    h = Harness(db, SimClock(T0))
    await h.proc.start()
    yield h
    db.close()


async def test_valid_command_executes_and_answers_ok(harness: Harness) -> None:
    """A valid set_point within limits runs the handler and answers ok with its result."""
    res = await harness.send(
        "set_point", harness.body("set_point", point="hvac1.setpoint", value=22)
    )
    assert (res.ok, res.code, res.result) == (True, "ok", {"done": True})
    assert len(harness.executed) == 1 and harness.answers == [res]


async def test_duplicate_cmd_id_executes_once_answers_identically(harness: Harness) -> None:
    """The same cmd_id twice: one execution, two identical answers."""
    body = harness.body("open_gate", gate="g1")
    first = await harness.send("open_gate", body)
    second = await harness.send("open_gate", body)
    assert first == second and len(harness.executed) == 1


async def test_duplicate_answered_identically_after_restart(tmp_path: Path) -> None:
    """Results are persisted: a duplicate after a restart is not executed again."""
    db = Database.open(tmp_path / "c.db")
    h1 = Harness(db, SimClock(T0))
    await h1.proc.start()
    body = h1.body("scene", zone="court-1", scene="match")
    first = await h1.send("scene", body)
    h2 = Harness(db, SimClock(T0))
    await h2.proc.start()
    again = await h2.send("scene", body)
    db.close()
    assert again == first and h2.executed == []


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"point": "hvac1.setpoint", "value": 40}, "out_of_range"),
        ({"point": "lights.main", "value": 1}, "not_writable"),
        ({"point": "hvac1.setpoint", "value": "hot"}, "invalid"),
        ({"point": "no-dot", "value": 20}, "invalid"),
        ({"point": "hvac1.setpoint", "value": 20, "extra": 1}, "invalid"),
    ],
)
async def test_guardrails_and_schema_refuse_with_reason(
    harness: Harness, args: dict[str, Any], code: str
) -> None:
    """Out-of-limit, unwritable or ill-typed set_point is refused with a reason code."""
    res = await harness.send("set_point", harness.body("set_point", **args))
    assert (res.ok, res.code) == (False, code) and res.message
    assert harness.executed == []


async def test_expired_command_refused(harness: Harness) -> None:
    """A command whose expires_at has passed is refused as expired, not executed."""
    body = harness.body("open_gate", gate="g1")
    await harness.clock.advance(61)
    res = await harness.send("open_gate", body)
    assert (res.ok, res.code) == (False, "expired") and harness.executed == []


@pytest.mark.parametrize(
    ("payload", "name", "code"),
    [
        (b"{not json", "open_gate", "malformed"),
        (b"[1,2]", "open_gate", "malformed"),
        (b'"\x80"', "set_point", "malformed"),  # found by the long fuzz run: bad UTF-8
        (b'{"cmd_id":"x"}', "self_destruct", "unknown_command"),
        (b"{" + b" " * (65 * 1024) + b"}", "open_gate", "too_large"),
        (
            b'{"cmd_id": 5, "expires_at": "2026-05-01T09:00:00Z", "gate": "g"}',
            "open_gate",
            "invalid",
        ),
        (b'{"cmd_id":"x","expires_at":"2026-05-01T09:00:00","gate":"g"}', "open_gate", "invalid"),
    ],
)
async def test_bad_payloads_refused_with_reason(
    harness: Harness, payload: bytes, name: str, code: str
) -> None:
    """Malformed, unknown, oversized and ill-typed payloads get a cmd_res, never a crash."""
    res = await harness.send(name, payload)
    assert (res.ok, res.code) == (False, code) and harness.executed == []


async def test_signatures_required(tmp_path: Path) -> None:
    """With signing required: unsigned, forged, wrong-topic and unknown-key are refused."""
    db = Database.open(tmp_path / "c.db")
    h = Harness(db, SimClock(T0), required=True)
    await h.proc.start()
    unsigned = await h.send("open_gate", h.body("open_gate", cmd_id="a", gate="g1"))
    good = h.body("open_gate", signed=True, cmd_id="b", gate="g1")
    forged = {**good, "gate": "g2"}
    other_gateway = sign(
        Topics("site1", "gw2").cmd("open_gate"),
        h.body("open_gate", cmd_id="c", gate="g1"),
        KEY,
        "k1",
    )
    stranger = sign(
        TOPICS.cmd("open_gate"),
        h.body("open_gate", cmd_id="d", gate="g1"),
        Ed25519PrivateKey.generate(),
        "k9",
    )
    results = [
        unsigned,
        await h.send("open_gate", forged),
        await h.send("open_gate", other_gateway),
        await h.send("open_gate", stranger),
        await h.send("open_gate", good),
    ]
    db.close()
    assert [r.code for r in results] == [
        "signature_required",
        "bad_signature",
        "bad_signature",
        "unknown_key",
        "ok",
    ]
    assert [c.cmd_id for c in h.executed] == ["b"]


async def test_a_rotated_out_command_key_is_refused_after_its_not_after(tmp_path: Path) -> None:
    """Key rotation: signatures by a key past its `not_after` (on the gateway's clock) are
    refused with key_expired; before that instant they are accepted."""
    db = Database.open(tmp_path / "c.db")
    clock = SimClock(T0)
    h = Harness(db, clock, required=True)
    h.proc._verifier = Verifier(
        {"k1": public_key_b64(KEY)}, True, {"k1": (T0 + timedelta(hours=1)).isoformat()}
    )
    await h.proc.start()
    before = await h.send("open_gate", h.body("open_gate", signed=True, cmd_id="a", gate="g1"))
    clock.jump(2 * 3600)
    after = await h.send("open_gate", h.body("open_gate", signed=True, cmd_id="b", gate="g1"))
    db.close()
    assert (before.code, after.code) == ("ok", "key_expired")
    assert [c.cmd_id for c in h.executed] == ["a"]


def test_command_key_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="not base64"):
        Verifier({"k1": "not a key!"}, True)
    with pytest.raises(ValueError, match="needs a timezone"):
        Verifier({"k1": public_key_b64(KEY)}, True, {"k1": "2027-01-01T00:00:00"})
    with pytest.raises(ValueError, match="not configured"):
        Verifier({"k1": public_key_b64(KEY)}, True, {"k2": "2027-01-01T00:00:00Z"})


async def test_forged_duplicate_does_not_get_stored_answer_first(tmp_path: Path) -> None:
    """A bad signature is checked before the duplicate lookup: no stored answer leaks."""
    db = Database.open(tmp_path / "c.db")
    h = Harness(db, SimClock(T0), required=True)
    await h.proc.start()
    good = h.body("open_gate", signed=True, cmd_id="b", gate="g1")
    await h.send("open_gate", good)
    forged = await h.send("open_gate", {**good, "hold_s": 59})
    db.close()
    assert forged.code == "bad_signature"


async def test_interrupted_command_not_rerun(tmp_path: Path) -> None:
    """A command marked executing when the process died is answered `interrupted`."""
    db = Database.open(tmp_path / "c.db")
    h = Harness(db, SimClock(T0))
    await h.proc.start()
    await h.proc._mark_executing("c1", "open_gate")  # as if killed mid-handler
    res = await h.send("open_gate", h.body("open_gate", gate="g1"))
    db.close()
    assert (res.ok, res.code) == (False, "interrupted") and h.executed == []


async def test_handler_errors_become_answers(tmp_path: Path) -> None:
    """A handler raising CommandRefused or crashing yields a cmd_res, not an exception."""
    db = Database.open(tmp_path / "c.db")
    answers: list[CmdResBody] = []

    async def respond(res: CmdResBody) -> None:
        answers.append(res)

    async def refuses(cmd: Command) -> None:
        raise CommandRefused("gate_busy", "gate g1 is already moving")

    async def crashes(cmd: Command) -> None:
        raise RuntimeError("relay board not answering")

    proc = CommandProcessor(db, SimClock(T0), respond, {"open_gate": refuses, "scene": crashes})
    await proc.start()
    exp = (T0 + timedelta(minutes=1)).isoformat()
    a = await proc.handle(
        "t", "open_gate", msgspec.json.encode({"cmd_id": "1", "expires_at": exp, "gate": "g1"})
    )
    b = await proc.handle(
        "t",
        "scene",
        msgspec.json.encode({"cmd_id": "2", "expires_at": exp, "zone": "z", "scene": "s"}),
    )
    c = await proc.handle("t", "reload", msgspec.json.encode({"cmd_id": "3", "expires_at": exp}))
    db.close()
    assert (a.code, b.code, c.code) == ("gate_busy", "failed", "not_supported")
    assert "relay board" in b.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
command_like = st.fixed_dictionaries(
    {},
    optional={
        "cmd_id": st.one_of(st.text(max_size=10), st.integers()),
        "expires_at": st.one_of(st.just("2026-05-01T09:00:00Z"), st.text(max_size=30)),
        "point": st.one_of(st.just("hvac1.setpoint"), st.text(max_size=12)),
        "value": json_values,
        "gate": json_values,
        "zone": json_values,
        "scene": json_values,
        "alarm_id": json_values,
        "sig": json_values,
    },
)


async def test_refusals_before_the_signature_are_answered_within_a_cap(tmp_path: Path) -> None:
    """Keys required, 1,000 unsigned commands at one instant: the first 200 refusals are
    answered, the other 800 counted; a signed command is still answered (and run); 10 s
    later 200 more refusals may be answered (20 per second). Nothing is executed unsigned."""
    db = Database.open(tmp_path / "c.db")
    h = Harness(db, SimClock(T0), required=True, unverified_answers=(20.0, 200))
    await h.proc.start()
    try:
        for i in range(1000):
            await h.send("open_gate", h.body("open_gate", cmd_id=f"u{i}", gate="g1"))
        assert len(h.answers) == 200 and h.proc.unanswered == 800
        assert {a.code for a in h.answers} == {"signature_required"}
        signed = await h.send("open_gate", h.body("open_gate", True, cmd_id="s1", gate="g1"))
        assert signed.code == "ok" and h.answers[-1] == signed
        await h.clock.advance(10)
        for i in range(300):
            await h.send("open_gate", h.body("open_gate", cmd_id=f"v{i}", gate="g1"))
        assert len(h.answers) == 201 + 200 and h.proc.unanswered == 900
        assert [c.cmd_id for c in h.executed] == ["s1"]
    finally:
        db.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from([*COMMANDS, "nope", ""]),
    payload=st.one_of(
        st.binary(max_size=300),
        json_values.map(msgspec.json.encode),
        command_like.map(msgspec.json.encode),
    ),
)
async def test_fuzz_every_payload_gets_an_answer(
    harness: Harness, name: str, payload: bytes
) -> None:
    """Random payloads on every cmd topic never raise and always produce one cmd_res."""
    before = len(harness.answers)
    res = await harness.send(name, payload)
    assert len(harness.answers) == before + 1
    assert res.ok == (res.code == "ok")


def test_canonical_signed_bytes_match_the_documented_example() -> None:
    """The signed bytes are exactly what docs/mqtt.md shows (key order and spacing ignored)."""
    from edge.uplink.signing import signed_bytes

    obj = msgspec.json.decode(
        b'{"value": 22.5, "cmd_id": "c1", "point": "hvac-1.setpoint",'
        b' "expires_at": "2026-05-01T18:01:00Z", "sig": {"kid": "k"}}'
    )
    assert signed_bytes("edge/v1/wcp/gw-1/cmd/set_point", obj) == (
        b"edge-cmd-v1\nedge/v1/wcp/gw-1/cmd/set_point\n"
        b'{"cmd_id":"c1","expires_at":"2026-05-01T18:01:00Z","point":"hvac-1.setpoint","value":22.5}'
    )
