"""Optimal start closed loop: a simulated hall warms at 4 K/h; once learned, ready at the start."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from rules import evaluate
from rules.model import PointValue, World
from rules.optimal_start import LearnedRates, PreStart, WarmupResult, observe, warmup_done
from tests.rules.scenario import DAY, at, booking, hall_site, replace

TRUE_RATE_K_PER_MIN = 4.0 / 60


def _site_with_sensor() -> World:
    site = hall_site()
    hall = msgspec.structs.replace(site.zones[0], temp_point="hall_sensor.temp")
    return World(site=replace(site, zones=(hall, *site.zones[1:])))


def _run_day(world: World, day: int) -> tuple[WarmupResult, LearnedRates]:
    """Minute steps 12:00-20:00 of one day with a booking at 19:00; the hall starts at 16 C."""
    base = DAY + timedelta(days=day)
    world = replace(
        world,
        bookings=(
            booking(f"d{day}", "court1", base + timedelta(hours=19), base + timedelta(hours=21)),
        ),
    )
    temp, tracking, result = 16.0, None, None
    t = base + timedelta(hours=12)
    while t < base + timedelta(hours=20) and result is None:
        world = replace(world, inputs={"hall_sensor.temp": PointValue(value=temp)})
        ev = evaluate(world, t)
        world = replace(world, memory=ev.memory)
        if tracking is None and ev.prestarts:
            tracking = (ev.prestarts[0], temp)
        if tracking is not None:
            result = warmup_done(tracking[0], tracking[1], temp, t)
        if ev.value("ahu1.run") is True:
            temp = min(25.0, temp + TRUE_RATE_K_PER_MIN)
        t += timedelta(minutes=1)
    assert result is not None
    learned = observe(
        world.learned, "hall", result.start_temp, result.target_c, result.took_s, result.reached_at
    )
    return result, learned


def test_default_rate_is_early_then_learned_rate_is_on_time() -> None:
    """Day 1 (default 3 K/h) reaches 25 C about 52 min early; day 2 (learned) within 2 min."""
    world = _site_with_sensor()
    first, learned = _run_day(world, 0)
    assert 45 * 60 <= first.early_s <= 55 * 60  # 24.5 C (dead band) after 2 h 08
    second, _ = _run_day(replace(world, learned=learned), 1)
    assert abs(second.early_s) <= 120


def test_prestart_is_reported_while_warming() -> None:
    """During the lead the evaluation lists the warm-up with its due time and target."""
    w = replace(
        _site_with_sensor(),
        bookings=(booking("b", "court1", at(19), at(21)),),
        inputs={"hall_sensor.temp": PointValue(value=19.0)},
    )
    ev = evaluate(w, at(17, 30))
    assert ev.prestarts == (
        PreStart(zone="hall", since=at(17), due=at(19), target_c=25.0, lead_s=7200.0),
    )
    assert evaluate(w, at(16, 59)).prestarts == ()


def test_far_future_booking_is_not_missed() -> None:
    """A booking ten days ahead is beyond the horizon but stepping by next_change reaches it."""
    w = World(
        site=hall_site(),
        bookings=(
            booking("far", "court2", at(19) + timedelta(days=10), at(21) + timedelta(days=10)),
        ),
    )
    t = at(0)
    for _ in range(20):
        ev = evaluate(w, t)
        if ev.value("dali1.court2") is True:
            break
        assert ev.next_change is not None
        t = ev.next_change
    assert t == at(18, 55) + timedelta(days=10)
