"""Alarm lifecycle on a stepped clock: debounce, latching, ack, shelve, persistence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.alarms import (
    AlarmClass,
    AlarmEngine,
    AlarmEvent,
    AlarmRefused,
    AlarmState,
    Severity,
    UnknownAlarmClass,
)
from edge.clock import SimClock
from edge.storage import Database

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
CLASSES = {
    "hot": AlarmClass(name="hot", severity=Severity.MINOR, delay_on_s=30, delay_off_s=10),
    "forced": AlarmClass(name="forced", severity=Severity.CRITICAL, latching=True),
}


@dataclass
class Rig:
    clock: SimClock
    engine: AlarmEngine
    events: list[AlarmEvent]
    path: Path

    async def step(self, seconds: float) -> None:
        """Advance the clock and wait until the engine has done what became due."""
        await self.clock.advance(seconds)
        for _ in range(3):
            await asyncio.wait_for(self.engine.idle.wait(), 5)
            await self.clock.advance(0)

    def states(self) -> list[tuple[str, str]]:
        return [(e.alarm_id, e.state.value) for e in self.events]


def open_engine(path: Path, clock: SimClock, events: list[AlarmEvent]) -> AlarmEngine:
    engine = AlarmEngine(Database.open(path), clock, CLASSES, shelve_max=timedelta(hours=8))
    engine.subscribe(events.append)
    return engine


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = SimClock(T0)
    events: list[AlarmEvent] = []
    engine = open_engine(tmp_path / "edge.db", clock, events)
    ready = asyncio.Event()
    task = asyncio.create_task(engine.run(ready.set))
    await ready.wait()
    await clock.advance(0)
    yield Rig(clock, engine, events, tmp_path / "edge.db")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    engine._db.close()


async def test_raised_only_after_delay_on(rig: Rig) -> None:
    """The condition must hold delay_on (30 s) before the alarm is raised."""
    rig.engine.report("hot", "env-1.temperature", True, "34 C")
    await rig.step(29)
    assert rig.events == []
    await rig.step(1.5)
    assert rig.states() == [("hot:env-1.temperature", "active")]
    assert rig.events[0].ts == T0 + timedelta(seconds=30)
    assert rig.events[0].severity is Severity.MINOR and rig.events[0].message == "34 C"


async def test_blip_shorter_than_delay_never_raises(rig: Rig) -> None:
    """A condition that goes away before delay_on is debounced away."""
    rig.engine.report("hot", "s", True)
    await rig.step(20)
    rig.engine.report("hot", "s", False)
    await rig.step(60)
    assert rig.events == []


async def test_non_latching_clears_after_delay_off(rig: Rig) -> None:
    """Back to normal for delay_off (10 s) clears a non-latching alarm without an ack."""
    rig.engine.report("hot", "s", True)
    await rig.step(31)
    rig.engine.report("hot", "s", False)
    await rig.step(9)
    assert rig.states() == [("hot:s", "active")]
    await rig.step(2)
    assert rig.states() == [("hot:s", "active"), ("hot:s", "cleared")]


async def test_latching_needs_ack_and_normal(rig: Rig) -> None:
    """A latching alarm back to normal stays `returned` until acknowledged, then closes."""
    rig.engine.report("forced", "gate-2", True)
    rig.engine.report("forced", "gate-2", False)
    assert rig.states() == [("forced:gate-2", "active"), ("forced:gate-2", "returned")]
    ev = rig.engine.ack("forced:gate-2", "tech-li")
    assert (ev.state, ev.ack_by) == (AlarmState.CLEARED, "tech-li")
    assert rig.engine.open_alarms() == []


async def test_acked_alarm_closes_when_normal(rig: Rig) -> None:
    """Acknowledged while active: it closes as soon as the condition is gone."""
    rig.engine.report("forced", "gate-1", True)
    rig.engine.ack("forced:gate-1", "op")
    rig.engine.report("forced", "gate-1", False)
    assert [s for _, s in rig.states()] == ["active", "acked", "cleared"]


async def test_reraise_after_close_is_a_new_occurrence(rig: Rig) -> None:
    """The same condition after a close raises a new occurrence of the same id."""
    for _ in range(2):
        rig.engine.report("forced", "gate-1", True)
        rig.engine.report("forced", "gate-1", False)
        rig.engine.ack("forced:gate-1", "op")
    assert [e.occurrence for e in rig.events if e.state is AlarmState.ACTIVE] == [1, 2]


async def test_ack_refusals_name_the_reason(rig: Rig) -> None:
    """Unknown ids, double acks, closed and shelved alarms and anonymous acks are refused."""
    with pytest.raises(AlarmRefused, match="no such alarm"):
        rig.engine.ack("nope:x", "op")
    rig.engine.report("forced", "g", True)
    with pytest.raises(AlarmRefused, match="needs `by`"):
        rig.engine.ack("forced:g", "")
    rig.engine.ack("forced:g", "op")
    with pytest.raises(AlarmRefused, match="already acknowledged by op"):
        rig.engine.ack("forced:g", "op2")
    rig.engine.report("forced", "g", False)
    with pytest.raises(AlarmRefused, match="already cleared"):
        rig.engine.ack("forced:g", "op")
    rig.engine.report("forced", "h", True)
    rig.engine.shelve("forced:h", T0 + timedelta(hours=1), "op")
    with pytest.raises(AlarmRefused, match="unshelve it first"):
        rig.engine.ack("forced:h", "op")


async def test_shelve_refusals(rig: Rig) -> None:
    """Expiry in the past, too far ahead, naive, or on an unknown alarm: refused."""
    rig.engine.report("forced", "g", True)
    with pytest.raises(AlarmRefused, match="not in the future"):
        rig.engine.shelve("forced:g", T0 - timedelta(minutes=1), "op")
    with pytest.raises(AlarmRefused, match="shelve_max_h"):
        rig.engine.shelve("forced:g", T0 + timedelta(days=2), "op")
    with pytest.raises(AlarmRefused, match="timezone"):
        rig.engine.shelve("forced:g", datetime(2026, 11, 21, 12, 0), "op")
    with pytest.raises(AlarmRefused, match="no such alarm"):
        rig.engine.shelve("forced:zz", T0 + timedelta(hours=1), "op")


async def test_shelve_expiry_brings_back_a_standing_alarm(rig: Rig) -> None:
    """Shelved for an hour with the condition still there: active (unacked) again at expiry."""
    rig.engine.report("forced", "g", True)
    rig.engine.ack("forced:g", "op")
    rig.engine.shelve("forced:g", T0 + timedelta(hours=1), "op")
    await rig.step(3599)
    assert rig.engine.get("forced:g").state is AlarmState.SHELVED  # type: ignore[union-attr]
    await rig.step(2)
    assert [s for _, s in rig.states()] == ["active", "acked", "shelved", "active"]
    assert rig.events[-1].ack_by is None


async def test_shelve_expiry_closes_a_gone_alarm(rig: Rig) -> None:
    """A condition gone while shelved: the alarm closes at expiry, silently meanwhile."""
    rig.engine.report("hot", "s", True)
    await rig.step(31)
    rig.engine.shelve("hot:s", T0 + timedelta(minutes=30), "op")
    rig.engine.report("hot", "s", False)
    await rig.step(60)
    assert [s for _, s in rig.states()] == ["active", "shelved"]
    await rig.step(30 * 60)
    assert [s for _, s in rig.states()] == ["active", "shelved", "cleared"]


async def test_unknown_class_is_an_error(rig: Rig) -> None:
    """A detector reporting a class nobody defined fails loudly (a programming error)."""
    with pytest.raises(UnknownAlarmClass, match="known: forced, hot"):
        rig.engine.report("smoke", "x", True)


async def test_open_alarms_survive_a_restart(tmp_path: Path) -> None:
    """Raised and acked, the DB closed and reopened: still open and acked; it clears when
    the condition is reported gone after the restart."""
    clock = SimClock(T0)
    events: list[AlarmEvent] = []
    engine = open_engine(tmp_path / "edge.db", clock, events)
    await engine.load()
    engine.report("forced", "gate-2", True, "forced at 19:04")
    engine.report("hot", "env-1", True)
    await clock.advance(31)
    engine.tick()
    engine.ack("forced:gate-2", "tech-li")
    await engine.flush()
    engine._db.close()

    again_events: list[AlarmEvent] = []
    again = open_engine(tmp_path / "edge.db", clock, again_events)
    await again.load()
    rec = again.get("forced:gate-2")
    assert rec is not None and (rec.state, rec.ack_by) == (AlarmState.ACKED, "tech-li")
    assert rec.message == "forced at 19:04"
    assert [r.alarm_id for r in again.open_alarms()] == ["forced:gate-2", "hot:env-1"]
    again.report("forced", "gate-2", False)
    assert [(e.alarm_id, e.state.value) for e in again_events] == [("forced:gate-2", "cleared")]
    await again.flush()
    again._db.close()


async def test_transitions_land_in_the_journal(tmp_path: Path) -> None:
    """Wired as the lead does, each transition is a kind="alarm" journal entry with the
    acknowledging user as actor."""
    from edge.alarms import journal_entry
    from edge.journal import SCHEMA, Journal

    clock = SimClock(T0)
    db = Database.open(tmp_path / "edge.db", [SCHEMA])
    journal = Journal(db, clock)
    engine = AlarmEngine(db, clock, CLASSES)
    engine.subscribe(lambda ev: journal.record(journal_entry(ev)))
    await engine.load()
    engine.report("forced", "gate-2", True, "gate-2 forced open", device="gate-2", zone="lobby")
    engine.ack("forced:gate-2", "tech-li")
    rows = await journal.query(kind="alarm", device="gate-2")
    assert [(r["body"]["state"], r["actor"], r["zone"]) for r in rows] == [
        ("acked", "tech-li", "lobby"),
        ("active", None, "lobby"),
    ]
    db.close()


def test_config_rejects_bad_values_and_names_unknown_classes() -> None:
    """`[alarms]` decodes with defaults; bad values name the field; unknown class names
    are listed for the config check."""
    import msgspec

    from edge.alarms import AlarmsConfig
    from edge.alarms.classes import builtin_classes, unknown_overrides

    cfg = msgspec.convert({"co2_max_ppm": 1200, "classes": {"co2_high": {"severity": "major"}}},
                          AlarmsConfig)  # fmt: skip
    assert builtin_classes(cfg)["co2_high"].severity is Severity.MAJOR
    with pytest.raises(msgspec.ValidationError, match="outbox_high_ratio"):
        msgspec.convert({"outbox_high_ratio": 3}, AlarmsConfig)
    bad = msgspec.convert({"classes": {"smoke": {}, "co2_high": {"enabled": False}}}, AlarmsConfig)
    assert unknown_overrides(bad) == ["smoke"]
    assert "co2_high" not in builtin_classes(bad)
