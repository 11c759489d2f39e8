"""Hypothesis properties of evaluate: purity, convergence, no flicker, life safety, next_change."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rules import Level, evaluate
from rules.emergency import emergency_outputs
from rules.evaluation import Evaluation
from rules.model import (
    Booking,
    Comparison,
    Condition,
    Entry,
    EventAction,
    EventRule,
    Override,
    PointValue,
    Schedule,
    ScheduleOutput,
    Span,
    Template,
    World,
)
from tests.rules.scenario import COURTS, DAY, at, booking, hall_site, replace, step_through

ZONES = (*COURTS, "hall")
minutes = st.integers(min_value=0, max_value=2 * 24 * 60)


@st.composite
def bookings(draw: st.DrawFn) -> Booking:
    start = DAY + timedelta(minutes=5 * draw(st.integers(0, 24 * 12)))
    dur = timedelta(minutes=5 * draw(st.integers(1, 48)))
    return Booking(
        booking_id=f"b{draw(st.integers(0, 30))}",
        zone=draw(st.sampled_from(ZONES)),
        start=start,
        end=start + dur,
        version=draw(st.integers(1, 3)),
        status=draw(st.sampled_from(["confirmed", "confirmed", "cancelled"])),
    )


@st.composite
def overrides(draw: st.DrawFn) -> Override:
    issued = DAY + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    return Override(
        id=f"o{draw(st.integers(0, 9))}",
        output=draw(st.sampled_from(["dali1.court1", "ahu1.run", "gate1.open"])),
        value=draw(st.booleans()),
        issued_at=issued,
        expires_at=issued + timedelta(minutes=draw(st.integers(1, 600))),
        source="technician",
        by="tech",
    )


LOBBY = Schedule(
    id="lobby",
    outputs=(
        ScheduleOutput(output="relay1.lobby", value=True, closed_value=False),
        ScheduleOutput(output="dali1.court1", value=True),
    ),
    weekly={d: (Span(start=at(8).time(), end=at(22).time()),) for d in ("sat", "sun", "mon")},
)
FAN = EventRule(
    id="co2",
    trigger=Condition(all=(Comparison(point="iaq.co2", op=">", value=1200.0),)),
    hold=timedelta(minutes=5),
    actions=(EventAction(output="ahu1.fan", value=3),),
)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    bs = draw(st.lists(bookings(), max_size=14))
    release = draw(st.sampled_from([None, timedelta(minutes=15)]))
    site = hall_site(
        schedules=(LOBBY,) if draw(st.booleans()) else (),
        event_rules=(FAN,),
        templates={"court": Template(target_temp_c=25.0, no_show_release=release)},
    )
    entries = tuple(
        Entry(booking_id=b.booking_id, at=b.start + timedelta(minutes=draw(st.integers(-10, 60))))
        for b in bs
        if draw(st.booleans())
    )
    return World(
        site=site,
        bookings=tuple(bs),
        overrides=tuple(draw(st.lists(overrides(), max_size=3))),
        entries=entries,
        inputs={"iaq.co2": PointValue(value=draw(st.sampled_from([800.0, 1500.0])))},
    )


def levels_of(ev: Evaluation) -> dict[str, tuple[tuple[Level, object], ...]]:
    """Per output: every non-empty level and its value (what must not change)."""
    return {o: tuple((w.level, w.value) for w in s.levels) for o, s in ev.outputs.items()}


@given(worlds(), minutes, st.randoms(use_true_random=False))
def test_pure_function_of_inputs_and_order_free(world: World, m: int, rnd) -> None:  # type: ignore[no-untyped-def]
    """Same (world, t) gives the same evaluation, whatever the order of bookings and overrides."""
    t = DAY + timedelta(minutes=m)
    a = evaluate(world, t)
    shuffled = list(world.bookings)
    rnd.shuffle(shuffled)
    ovs = list(world.overrides)
    rnd.shuffle(ovs)
    b = evaluate(replace(world, bookings=tuple(shuffled), overrides=tuple(ovs)), t)
    assert a == evaluate(world, t)
    assert a == b


@given(worlds(), st.integers(min_value=0, max_value=24 * 60 * 60))
def test_restart_at_random_instant_converges(world: World, s: int) -> None:
    """Evaluating fresh at t gives the same wanted values as having run since midnight."""
    world = replace(world, site=replace(world.site, event_rules=()))  # hold timers need memory
    t = DAY + timedelta(seconds=s)
    steps = step_through(world, DAY, t)
    ran = evaluate(replace(world, memory=steps[-1][1].memory), t)
    fresh = evaluate(world, t)
    assert levels_of(ran) == levels_of(fresh)


@st.composite
def chains(draw: st.DrawFn) -> list[Booking]:
    """Back-to-back or overlapping bookings of one court, in any version order."""
    t = DAY + timedelta(hours=draw(st.integers(6, 12)))
    out = []
    for i in range(draw(st.integers(2, 6))):
        end = t + timedelta(minutes=15 * draw(st.integers(1, 8)))
        out.append(booking(f"k{i}", "court2", t, end))
        t = end - timedelta(minutes=5 * draw(st.integers(0, 2)))  # touching or overlapping
    return out


@given(chains())
def test_no_toggle_between_back_to_back_bookings(chain: list[Booking]) -> None:
    """Across a chain of touching bookings the light goes on once and off once, the AHU too."""
    world = World(site=hall_site(), bookings=tuple(chain))
    steps = step_through(world, DAY, DAY + timedelta(days=1))
    for output in ("dali1.court2", "ahu1.run"):
        seq = [ev.value(output) for _, ev in steps]
        flips = sum(1 for x, y in itertools.pairwise(seq) if x != y)
        assert flips == 2, (output, seq)
    first, last = min(b.start for b in chain), max(b.end for b in chain)
    for _, ev in steps:
        if first - timedelta(minutes=5) <= ev.at < last + timedelta(minutes=10):
            assert ev.value("dali1.court2") is True


@given(worlds(), minutes)
def test_life_safety_always_wins(world: World, m: int) -> None:
    """With the fire alarm present every emergency output takes its life-safety value."""
    t = DAY + timedelta(minutes=m)
    inputs = {**world.inputs, "firepanel.alarm": PointValue(value=True)}
    ev = evaluate(replace(world, inputs=inputs), t)
    table = emergency_outputs(world.site.emergency, world.site.zones)
    assert table
    for output, value in table.items():
        winner = ev.outputs[output].winner
        assert winner is not None
        assert (winner.level, winner.value) == (Level.LIFE_SAFETY, value)


@given(worlds(), minutes, st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=6))
def test_nothing_changes_before_next_change(world: World, m: int, fractions: list[float]) -> None:
    """At sampled instants strictly between t and next_change every level's value is unchanged."""
    t = DAY + timedelta(minutes=m)
    ev = evaluate(world, t)
    steady = replace(world, memory=ev.memory)
    ev = evaluate(steady, t)
    horizon = ev.next_change or t + timedelta(days=3)
    expected = levels_of(ev)
    for f in fractions:
        s = t + (horizon - t) * f
        if not t < s < horizon:  # timedelta rounding can land on either end
            continue
        assert levels_of(evaluate(steady, s)) == expected, (s, horizon)


@given(worlds(), minutes)
def test_next_change_is_after_t(world: World, m: int) -> None:
    """next_change is strictly after t (or None), so a scheduler always makes progress."""
    t: datetime = DAY + timedelta(minutes=m)
    nc = evaluate(world, t).next_change
    assert nc is None or nc > t


@given(worlds(), minutes)
def test_feeding_memory_back_at_same_instant_is_idempotent(world: World, m: int) -> None:
    """Re-evaluating at t with the memory t returned changes nothing (extra wake-ups are safe)."""
    t = DAY + timedelta(minutes=m)
    first = evaluate(world, t)
    again = evaluate(replace(world, memory=first.memory), t)
    assert levels_of(again) == levels_of(first)
    assert evaluate(replace(world, memory=again.memory), t) == again


@st.composite
def bad_bookings(draw: st.DrawFn) -> Booking:
    start = DAY + timedelta(minutes=draw(st.integers(-3000, 3000)))
    if draw(st.booleans()):
        start = start.replace(tzinfo=None)
    return Booking(
        booking_id=draw(st.sampled_from(["", "x", "y"])),
        zone=draw(st.sampled_from([*ZONES, "nowhere", ""])),
        start=start,
        end=start + timedelta(minutes=draw(st.integers(-600, 3000))),
        version=draw(st.integers(-2, 3)),
    )


@given(st.lists(bad_bookings(), max_size=8), minutes)
def test_bad_bookings_never_crash_evaluate(bs: list[Booking], m: int) -> None:
    """Naive times, unknown zones, negative or huge durations are skipped, never raised."""
    ev = evaluate(World(site=hall_site(), bookings=tuple(bs)), DAY + timedelta(minutes=m))
    assert set(ev.outputs) >= {"dali1.court1", "ahu1.run"}
