"""Event rules: hold time, end condition, quality, the memory contract."""

from __future__ import annotations

from datetime import timedelta

from rules import Level, evaluate
from rules.model import (
    Comparison,
    Condition,
    EventAction,
    EventRule,
    PointValue,
    Site,
    World,
)
from tests.rules.scenario import at, replace

RULE = EventRule(
    id="co2-high",
    trigger=Condition(all=(Comparison(point="iaq.co2", op=">", value=1200.0),)),
    hold=timedelta(minutes=5),
    end=Condition(all=(Comparison(point="iaq.co2", op="<", value=1000.0),)),
    end_hold=timedelta(minutes=2),
    actions=(EventAction(output="ahu1.fan", value=3),),
)


def _world(co2: float, quality: str = "good") -> World:
    return World(
        site=Site(timezone="UTC", event_rules=(RULE,), defaults={"ahu1.fan": 1}),
        inputs={"iaq.co2": PointValue(value=co2, quality=quality)},  # type: ignore[arg-type]
    )


def test_trigger_must_hold_for_hold_time() -> None:
    """CO2 above 1200 activates the fan only after 5 minutes, at exactly that instant."""
    w = _world(1500.0)
    ev = evaluate(w, at(10))
    assert ev.value("ahu1.fan") == 1
    assert ev.next_change == at(10, 5)
    w = replace(w, memory=ev.memory)
    assert evaluate(w, at(10, 4)).value("ahu1.fan") == 1
    ev = evaluate(w, at(10, 5))
    assert ev.value("ahu1.fan") == 3
    assert ev.outputs["ahu1.fan"].winner.cause.since == at(10, 5)  # type: ignore[union-attr]


def test_condition_dropping_during_hold_resets_it() -> None:
    """A dip below the threshold during the hold restarts the hold timer."""
    w = _world(1500.0)
    mem = evaluate(w, at(10)).memory
    mem = evaluate(replace(_world(900.0), memory=mem), at(10, 3)).memory
    ev = evaluate(replace(w, memory=mem), at(10, 6))
    assert ev.value("ahu1.fan") == 1
    assert ev.next_change == at(10, 11)


def test_end_condition_with_hysteresis_and_end_hold() -> None:
    """Between 1000 and 1200 the rule stays active; below 1000 for 2 min it ends."""
    mem = evaluate(_world(1500.0), at(10)).memory
    mem = evaluate(replace(_world(1500.0), memory=mem), at(10, 5)).memory
    mid = evaluate(replace(_world(1100.0), memory=mem), at(10, 30))
    assert mid.value("ahu1.fan") == 3
    low = evaluate(replace(_world(900.0), memory=mid.memory), at(10, 40))
    assert low.value("ahu1.fan") == 3
    assert low.next_change == at(10, 42)
    done = evaluate(replace(_world(900.0), memory=low.memory), at(10, 42))
    assert done.value("ahu1.fan") == 1


def test_bad_quality_never_triggers_and_never_ends() -> None:
    """A bad-quality reading counts as false: no activation, and an active rule stays active."""
    assert evaluate(_world(5000.0, "bad"), at(10)).memory.events == {}
    mem = evaluate(_world(1500.0), at(10)).memory
    mem = evaluate(replace(_world(1500.0), memory=mem), at(10, 5)).memory
    ev = evaluate(replace(_world(500.0, "bad"), memory=mem), at(11))
    assert ev.value("ahu1.fan") == 3


def test_evaluating_twice_at_same_instant_is_idempotent() -> None:
    """Feeding the returned memory back at the same t returns the same evaluation."""
    w = _world(1500.0)
    for t in (at(10), at(10, 5), at(10, 7)):
        ev = evaluate(w, t)
        w = replace(w, memory=ev.memory)
        assert evaluate(w, t) == ev


def test_action_at_other_level_and_schedule_outranks_event() -> None:
    """An action can name its level; the event level loses to a manual-level action."""
    rule = replace(
        RULE,
        id="co2-manual",
        hold=timedelta(0),
        actions=(EventAction(output="ahu1.fan", value=2, level=Level.MANUAL),),
    )
    w = World(
        site=Site(timezone="UTC", event_rules=(RULE, rule)),
        inputs={"iaq.co2": PointValue(value=1500.0)},
    )
    ev = evaluate(w, at(10))
    winner = ev.outputs["ahu1.fan"].winner
    assert winner is not None and (winner.level, winner.value) == (Level.MANUAL, 2)


def test_watched_points_include_rule_inputs() -> None:
    """The caller learns which points to watch to re-evaluate on change."""
    assert "iaq.co2" in evaluate(_world(800.0), at(10)).watched_points


def test_memory_round_trips_through_json() -> None:
    """Memory (hold timers, latches) persists as JSON and evaluates the same after decoding."""
    import msgspec

    from rules.model import Memory

    w = replace(
        _world(1500.0),
        inputs={"iaq.co2": PointValue(value=1500.0), "firepanel.alarm": PointValue(value=True)},
    )
    ev = evaluate(w, at(10))
    decoded = msgspec.json.decode(msgspec.json.encode(ev.memory), type=Memory)
    assert decoded == ev.memory
    assert evaluate(replace(w, memory=decoded), at(10, 5)) == evaluate(
        replace(w, memory=ev.memory), at(10, 5)
    )
