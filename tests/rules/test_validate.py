"""Validation table tests: each bad input gives one clear problem with a path and a hint."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from rules import Level
from rules.model import (
    Booking,
    EventAction,
    EventRule,
    Override,
    Schedule,
    ScheduleException,
    ScheduleOutput,
    Site,
    Span,
    ZoneSpec,
)
from rules.parse import parse_condition
from rules.validate import (
    Problem,
    errors,
    validate_booking,
    validate_bookings,
    validate_override,
    validate_site,
)
from tests.rules.scenario import at, booking, hall_site, replace


def rule(
    rid: str,
    trigger: str,
    output: str = "ahu1.fan",
    value: int = 3,
    level: Level = Level.EVENT,
    end: str | None = None,
) -> EventRule:
    """An event rule from strings."""
    return EventRule(
        id=rid,
        trigger=parse_condition(trigger),
        end=None if end is None else parse_condition(end),
        actions=(EventAction(output=output, value=value, level=level),),
    )


SITE = hall_site()
POINTS = {
    "dali1.court1",
    "ahu1.run",
    "ahu1.setpoint",
    "ahu1.fan",
    "iaq.co2",
    "iaq.temp",
    "firepanel.alarm",
    "gate1.open",
} | {f"dali1.court{i}" for i in range(2, 7)}

BOOKING_CASES = [
    (booking("b", "court1", at(10), at(9)), "b.end", "is not after start"),
    (booking("b", "court1", at(10), at(10)), "b.end", "is not after start"),
    (booking("b", "nowhere", at(9), at(10)), "b.zone", "unknown zone 'nowhere'"),
    (booking("b", "court1", at(0), at(0) + timedelta(hours=25)), "b.end", "absurd duration"),
    (
        Booking(
            booking_id="b",
            zone="court1",
            start=datetime(2026, 1, 1, 9),
            end=datetime(2026, 1, 1, 10),
        ),
        "booking b",
        "without a timezone",
    ),
    (booking("", "court1", at(9), at(10)), ".booking_id", "empty booking id"),
]


@pytest.mark.parametrize(("b", "path", "message"), BOOKING_CASES)
def test_booking_problems(b: Booking, path: str, message: str) -> None:
    """Each bad booking yields a problem naming the field and what is wrong, with a hint."""
    problems = validate_booking(SITE, b)
    assert len(problems) == 1, problems
    assert path in problems[0].path and message in problems[0].message
    assert problems[0].hint


def test_older_version_is_refused() -> None:
    """A booking older than the held version is refused; an equal, different one too."""
    held = booking("b", "court1", at(9), at(10), version=3)
    older = validate_booking(SITE, booking("b", "court1", at(11), at(12), version=2), held)
    assert "older version 2 than the held 3" in older[0].message
    same = validate_booking(SITE, booking("b", "court1", at(11), at(12), version=3), held)
    assert "already held with different content" in same[0].message
    assert validate_booking(SITE, held, held) == []


def test_batch_reports_out_of_order_versions() -> None:
    """Within a batch, a version arriving after a newer one is reported."""
    problems = validate_bookings(
        SITE,
        [
            booking("b", "court1", at(9), at(10), version=2),
            booking("b", "court1", at(9), at(11), version=1),
        ],
    )
    assert [p.path for p in problems] == ["bookings[1] (b).version"]


SITE_CASES = [
    (replace(SITE, timezone="Mars/Base"), "timezone", "unknown timezone"),
    (
        replace(SITE, zones=(*SITE.zones, ZoneSpec(id="court1", kind="court"))),
        "zones[7].id",
        "duplicate zone id",
    ),
    (
        replace(SITE, zones=(ZoneSpec(id="a", kind="room", parent="zz"),)),
        "zones[0].parent",
        "unknown parent zone 'zz'",
    ),
    (
        replace(
            SITE,
            zones=(
                ZoneSpec(id="a", kind="room", parent="b"),
                ZoneSpec(id="b", kind="room", parent="a"),
            ),
        ),
        "zones",
        "cycle",
    ),
    (
        replace(SITE, zones=(ZoneSpec(id="a", kind="room", target_temp_c=80.0),)),
        "zones[0].target_temp_c",
        "absurd",
    ),
    (
        replace(SITE, event_rules=(rule("r", "iaq.co2 > 1200", output="iaq.co2"),)),
        "event_rules[0]",
        "cycle",
    ),
    (
        replace(
            SITE,
            event_rules=(
                rule("a", "iaq.co2 > 1200", output="ahu1.fan"),
                rule("b", "ahu1.fan > 2", output="iaq.temp"),
                rule("c", "iaq.temp > 30", output="iaq.co2"),
            ),
        ),
        "event_rules",
        "cycle",
    ),
    (
        replace(
            SITE,
            event_rules=(
                rule("a", "iaq.co2 > 1200", value=3),
                rule("b", "iaq.co2 > 1000", value=1),
            ),
        ),
        "event_rules[1]",
        "contradicts rule 'a'",
    ),
    (
        replace(SITE, event_rules=(rule("a", "iaq.co2 > 1200", level=Level.LIFE_SAFETY),)),
        "event_rules[0].actions[0].level",
        "cannot write at level life_safety",
    ),
    (
        replace(SITE, schedules=(Schedule(id="s", outputs=()),)),
        "schedules[0].outputs",
        "drives no output",
    ),
    (
        replace(
            SITE,
            schedules=(
                Schedule(
                    id="s",
                    outputs=(ScheduleOutput(output="dali1.court1"),),
                    exceptions=(ScheduleException(first=date(2026, 5, 2), last=date(2026, 5, 1)),),
                ),
            ),
        ),
        "schedules[0].exceptions[0]",
        "before first",
    ),
]


@pytest.mark.parametrize(("site", "path", "message"), SITE_CASES)
def test_site_problems(site: Site, path: str, message: str) -> None:
    """Each bad config yields an error naming where it is and what is wrong, with a hint."""
    problems = errors(validate_site(site, POINTS | {"iaq.co2", "iaq.temp"}))
    assert len(problems) == 1, problems
    assert problems[0].path.startswith(path) and message in problems[0].message
    assert problems[0].hint


def test_exclusive_triggers_are_not_contradictory() -> None:
    """Two rules on one output with disjoint triggers (co2 > 1200 / co2 < 800) are fine."""
    site = replace(
        SITE,
        event_rules=(rule("a", "iaq.co2 > 1200", value=3), rule("b", "iaq.co2 < 800", value=1)),
    )
    assert errors(validate_site(site, POINTS)) == []


def test_unknown_points_are_reported_with_near_names() -> None:
    """A rule reading an unknown point names it and suggests points of the same device."""
    site = replace(SITE, event_rules=(rule("a", "iaq.c02 > 1200"),))
    problems = validate_site(site, POINTS)
    assert [p.path for p in problems] == ["event_rules[0].trigger[0]"]
    assert "unknown input point 'iaq.c02'" in problems[0].message
    assert "iaq.co2" in problems[0].hint


def test_valid_site_has_no_errors() -> None:
    """The test hall site validates cleanly against its points."""
    assert validate_site(SITE, POINTS) == []


def test_missing_alarm_input_is_a_warning() -> None:
    """No fire-panel input configured is a warning, not an error."""
    problems = validate_site(replace(SITE, emergency=replace(SITE.emergency, alarms=())))
    assert [p.severity for p in problems] == ["warning"]


def _ov(**kw: object) -> Override:
    base: dict[str, object] = dict(
        id="o",
        output="dali1.court1",
        value=True,
        issued_at=at(9),
        expires_at=at(10),
        source="technician",
        by="li",
    )
    base.update(kw)
    return Override(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ov", "message"),
    [
        (_ov(expires_at=at(8)), "already expired"),
        (_ov(expires_at=at(9) + timedelta(days=30)), "more than 7 days"),
        (_ov(by=""), "no technician or command id"),
        (_ov(output="dali9.x"), "unknown output"),
        (_ov(expires_at=datetime(2026, 1, 1)), "without a timezone"),
    ],
)
def test_override_problems(ov: Override, message: str) -> None:
    """Overrides must expire, not too late, say who issued them and name a real output."""
    problems = validate_override(ov, at(8, 30), known_outputs=POINTS)
    assert any(message in p.message for p in problems), problems


def test_validation_never_raises_on_malformed_structs() -> None:
    """A struct built by hand with wrong types gives a problem, not an exception."""
    bad = Booking(booking_id="b", zone="court1", start="soon", end=None)  # type: ignore[arg-type]
    problems = validate_booking(SITE, bad)
    assert problems and isinstance(problems[-1], Problem)
    bad_site = Site(timezone="UTC", zones=(None,))  # type: ignore[arg-type]
    assert validate_site(bad_site)


def test_problem_str_is_readable() -> None:
    """str(problem) carries severity, path, message and fix."""
    p = validate_booking(SITE, booking("b", "court1", at(10), at(9)))[0]
    assert str(p).startswith("error: booking b.end: end ") and "(fix: " in str(p)


def test_span_objects_are_valid_in_schedules() -> None:
    """A well-formed schedule produces no problem."""
    s = Schedule(
        id="s",
        outputs=(ScheduleOutput(output="dali1.court1"),),
        weekly={"mon": (Span(start=time(8), end=time(2)),)},
    )
    assert validate_site(replace(SITE, schedules=(s,)), POINTS) == []
