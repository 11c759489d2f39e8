"""Inbound commands under hostile input: every payload (nesting, sizes, types, bad bytes) gets
exactly one `cmd_res`, nothing crashes; a flood is bounded, counted and alarmed, and the
router goes on answering once it drained. Real router, processor and SQLite file; the
broker path is `test_nasty_payloads_through_mosquitto_all_answered`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.clock import SystemClock
from edge.jsonlimits import MAX_DEPTH, depth_problem
from edge.storage import Database
from edge.uplink import CmdResBody, Command, CommandProcessor, InboundRouter
from edge.uplink.contract import COMMANDS, Topics
from edge.uplink.inbound import LaneBound
from sim.cloud import CloudEmulator
from tests.bookings.venue_rig import until
from tests.uplink.conftest import UplinkFactory

TOPICS = Topics("site1", "gw1")
NAMES = [*COMMANDS, "nope", "", "x" * 300]
FIELDS = ["cmd_id", "expires_at", "issued_at", "sig", "gate", "hold_s", "point", "value",
          "zone", "scene", "alarm_id", "by", "reason", "kid", "alg"]  # fmt: skip
EXAMPLES = max(5000, settings.default.max_examples)


class Rig:
    def __init__(self, db: Database) -> None:
        self.answers: list[CmdResBody] = []
        self.executed: list[str] = []
        self.floods: list[tuple[str, bool]] = []

        self.answered = asyncio.Event()

        async def respond(res: CmdResBody) -> None:
            self.answers.append(res)
            self.answered.set()

        async def handler(cmd: Command) -> dict[str, Any] | None:
            self.executed.append(cmd.cmd_id)
            return None

        # Every refusal answered: what each payload is answered with is under test here, not
        # the cap on unverified answers (test_commands.py has that).
        self.proc = CommandProcessor(
            db, SystemClock(), respond, dict.fromkeys(COMMANDS, handler), unverified_answers=None
        )
        self.router = InboundRouter(
            self.proc,
            {"bookings": self._ignore},
            command_bound=LaneBound(max_messages=64, max_bytes=256 * 1024, workers=4),
            on_flood=lambda lane, active, msg: self.floods.append((lane, active)),
        )

    async def _ignore(self, payload: bytes) -> None:
        return None

    async def send(self, name: str, payload: bytes) -> CmdResBody:
        before = len(self.answers)
        self.answered.clear()
        self.router.offer(TOPICS.cmd(name), f"cmd/{name}", payload)
        async with asyncio.timeout(10):
            await self.answered.wait()
        for _ in range(3):  # a second answer to the same payload would show here
            await asyncio.sleep(0)
        assert len(self.answers) == before + 1, self.answers[before:]
        return self.answers[-1]


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = Database.open(tmp_path / "fuzz.db")
    r = Rig(db)
    async with r.router:
        yield r
    db.close()


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)  # fmt: skip
OBJECT = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=8)
PAYLOAD = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda v: json.dumps(v).encode()),
    OBJECT.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 20_000).map(nested),
    st.integers(1, 5_000).map(lambda n: b'{"cmd_id":"deep","gate":' + nested(n) + b"}"),
    st.integers(1, 3_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(60_000, 70_000).map(lambda n: b'{"cmd_id":"big","pad":"' + b"x" * n + b'"}'),
    st.binary(max_size=50).map(lambda b: b'{"cmd_id":"' + b + b'"}'),
)


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(NAMES), payload=PAYLOAD)
async def test_every_command_payload_gets_exactly_one_answer(
    rig: Rig, name: str, payload: bytes
) -> None:
    """5,000 generated payloads (nesting to 20,000 levels, sizes around the 64 KiB limit,
    wrong types, bad UTF-8): each one exactly one `cmd_res` with a code, never a crash."""
    res = await rig.send(name, payload)
    assert res.name == name and res.code
    assert res.ok == (res.code == "ok")
    if depth_problem(payload) is not None:
        assert res.code in ("too_large", "malformed")


def test_depth_check_ignores_brackets_in_strings() -> None:
    """Brackets inside strings (escaped quotes too) do not count; real nesting does."""
    assert depth_problem(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[["}', 2) is None
    assert depth_problem(nested(MAX_DEPTH)) is None
    assert depth_problem(nested(MAX_DEPTH + 1)) == f"nested deeper than {MAX_DEPTH} levels"


async def test_flood_is_bounded_counted_and_alarmed(rig: Rig) -> None:
    """60,000 commands delivered at once: the lane never holds more than its bound, the
    excess is dropped and counted, the alarm rises and returns once drained, and a command
    after the flood is answered."""
    body = b'{"cmd_id": "flood", "expires_at": "2000-01-01T00:00:00Z", "gate": "g"}'
    peak = 0
    for i in range(60_000):
        rig.router.offer(TOPICS.cmd("open_gate"), "cmd/open_gate", body)
        if i % 100 == 0:
            peak = max(peak, rig.router.depth("cmd")[0])
    assert peak <= 64 and rig.router.depth("cmd")[1] <= 256 * 1024
    dropped = rig.router.dropped["cmd"]
    assert dropped >= 60_000 - 64 - len(rig.answers) and dropped > 0
    assert rig.floods[0] == ("cmd", True)
    await until(lambda: rig.router.depth("cmd") == (0, 0), 30)
    await until(lambda: ("cmd", False) in rig.floods, 5)
    assert len(rig.answers) == 60_000 - dropped
    late = await rig.send("open_gate", body.replace(b"flood", b"late"))
    assert late.cmd_id == "late" and late.code == "expired"
    assert rig.executed == []


async def test_nasty_payloads_through_mosquitto_all_answered(
    cloud: CloudEmulator, make_uplink: UplinkFactory
) -> None:
    """Through the broker: deep nesting, the size limit, bad UTF-8, not an object, unknown
    command: one `cmd_res` each (what the cloud sees)."""
    payloads = [
        ("open_gate", nested(20_000)),
        ("open_gate", b'{"cmd_id":"d1","gate":' + nested(5_000) + b"}"),
        ("open_gate", b'{"cmd_id":"s1","pad":"' + b"x" * 70_000 + b'"}'),
        ("open_gate", b'{"cmd_id":"u1","gate":"\xff\xfe"}'),
        ("open_gate", b"[1, 2, 3]"),
        ("nope", b'{"cmd_id":"n1"}'),
        ("open_gate", msgspec.json.encode({"cmd_id": "big", "gate": "g", "hold_s": 2**80})),
    ]
    executed: list[str] = []

    async def open_gate(cmd: Command) -> None:
        executed.append(cmd.cmd_id)

    async with make_uplink(handlers={"open_gate": open_gate}) as up:
        await up.connected_event.wait()
        for name, payload in payloads:
            await cloud.publish(f"cmd/{name}", payload)
        await cloud.wait_for(lambda: len(cloud.unique("cmd_res")) >= len(payloads), within=15)
    assert executed == []
    codes = sorted(r["code"] for r in cloud.unique("cmd_res").values())
    assert codes == sorted(
        ["malformed", "malformed", "too_large", "malformed", "malformed", "unknown_command",
         "invalid"]
    )  # fmt: skip
