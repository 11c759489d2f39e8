"""Weekly schedules in local time: exceptions, midnight spans, DST, next change."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from rules import Level, evaluate
from rules.model import Schedule, ScheduleException, ScheduleOutput, Site, Span, World

PARIS_WEEK = {d: (Span(start=time(8), end=time(22)),) for d in ("mon", "tue", "wed", "thu", "fri")}


def _world(**kw: object) -> World:
    sch = Schedule(
        id="lobby",
        outputs=(ScheduleOutput(output="relay1.lobby", value=True, closed_value=False),),
        weekly=kw.pop("weekly", PARIS_WEEK),  # type: ignore[arg-type]
        exceptions=kw.pop("exceptions", ()),  # type: ignore[arg-type]
    )
    return World(site=Site(timezone=str(kw.pop("tz", "Europe/Paris")), schedules=(sch,)))


def _v(w: World, t: datetime) -> object:
    return evaluate(w, t).value("relay1.lobby")


def test_open_hours_are_local_time() -> None:
    """Mon 08:00 Paris (UTC+1 in winter) is 07:00 UTC."""
    w = _world()
    assert _v(w, datetime(2026, 11, 23, 6, 59, tzinfo=UTC)) is False
    assert _v(w, datetime(2026, 11, 23, 7, 0, tzinfo=UTC)) is True
    assert _v(w, datetime(2026, 11, 23, 20, 59, tzinfo=UTC)) is True
    assert _v(w, datetime(2026, 11, 23, 21, 0, tzinfo=UTC)) is False


def test_dst_keeps_local_opening_time() -> None:
    """In summer (UTC+2) the same 08:00 local opening is 06:00 UTC."""
    w = _world()
    assert _v(w, datetime(2026, 7, 6, 5, 59, tzinfo=UTC)) is False
    assert _v(w, datetime(2026, 7, 6, 6, 0, tzinfo=UTC)) is True


def test_span_through_dst_night_has_real_length() -> None:
    """22:00-06:00 over the spring-forward night closes at 06:00 local = 04:00 UTC."""
    w = _world(weekly={"sat": (Span(start=time(22), end=time(6)),)})
    # 2026-03-28 is a Saturday; clocks go forward on Sunday 29 at 02:00 local
    assert _v(w, datetime(2026, 3, 28, 21, 0, tzinfo=UTC)) is True  # 22:00 CET
    assert _v(w, datetime(2026, 3, 29, 3, 59, tzinfo=UTC)) is True
    assert _v(w, datetime(2026, 3, 29, 4, 0, tzinfo=UTC)) is False  # 06:00 CEST


def test_holiday_closes_and_special_hours_replace() -> None:
    """A closure date is closed all day; special hours replace the weekly hours."""
    w = _world(
        exceptions=(
            ScheduleException(first=date(2026, 12, 25), note="Christmas"),
            ScheduleException(first=date(2026, 12, 24), hours=(Span(start=time(8), end=time(12)),)),
        )
    )
    assert _v(w, datetime(2026, 12, 25, 10, 0, tzinfo=UTC)) is False
    assert _v(w, datetime(2026, 12, 24, 10, 0, tzinfo=UTC)) is True
    assert _v(w, datetime(2026, 12, 24, 12, 0, tzinfo=UTC)) is False


def test_next_change_skips_a_long_closure() -> None:
    """During a three-week closure next_change is the reopening, not a daily wake-up."""
    w = _world(exceptions=(ScheduleException(first=date(2026, 8, 1), last=date(2026, 8, 21)),))
    ev = evaluate(w, datetime(2026, 8, 3, 12, tzinfo=UTC))
    assert ev.value("relay1.lobby") is False
    assert ev.next_change == datetime(2026, 8, 24, 6, 0, tzinfo=UTC)  # Monday 08:00 CEST


def test_schedule_without_closed_value_relinquishes() -> None:
    """Outside hours a schedule without closed_value leaves the schedule level empty."""
    sch = Schedule(id="s", outputs=(ScheduleOutput(output="ahu2.run"),), weekly=PARIS_WEEK)
    w = World(site=Site(timezone="Europe/Paris", schedules=(sch,)))
    ev = evaluate(w, datetime(2026, 11, 22, 12, tzinfo=UTC))  # Sunday
    assert ev.outputs["ahu2.run"].at(Level.SCHEDULE) is None
    assert ev.value("ahu2.run") is None


def test_cause_since_until_are_the_opening_hours() -> None:
    """Explain shows the schedule id and the opening window as since/until."""
    ev = evaluate(_world(), datetime(2026, 11, 23, 12, tzinfo=UTC))
    cause = ev.outputs["relay1.lobby"].winner.cause  # type: ignore[union-attr]
    assert (cause.kind, cause.id) == ("schedule", "lobby")
    assert cause.since == datetime(2026, 11, 23, 7, tzinfo=UTC)
    assert cause.until == datetime(2026, 11, 23, 21, tzinfo=UTC)
    assert ev.next_change == cause.until


def test_unknown_timezone_falls_back_to_utc() -> None:
    """A bad timezone name never crashes evaluate (validate reports it)."""
    w = _world(tz="Mars/Olympus")
    assert _v(w, datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) is True
    assert _v(w, datetime(2026, 11, 23, 7, 59, tzinfo=UTC) - timedelta(0)) is False
