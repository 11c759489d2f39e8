"""A booking's energy window starts when pre-conditioning actually began."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge.energy import window_with_prestarts
from rules.model import HvacSpec, LightSpec, Site, ZoneSpec

START = datetime(2026, 7, 15, 11, 0, tzinfo=UTC)
SITE = Site(
    timezone="UTC",
    zones=(
        ZoneSpec(id="hall", kind="hall", hvac=(HvacSpec(enable="ahu.on"),)),
        ZoneSpec(id="court", kind="court", parent="hall", lights=(LightSpec(output="l.ch1_on"),)),
    ),
)


@dataclass
class B:
    booking_id: str
    zone: str
    start: datetime
    end: datetime
    status: str = "confirmed"


def test_actual_prestart_of_the_hall_opens_the_window() -> None:
    """The hall began cooling 108 min early: the court booking's window starts then."""
    began = START - timedelta(minutes=108)
    window = window_with_prestarts(SITE, lambda z, s: began if (z, s) == ("hall", START) else None)
    assert window(B("b", "court", START, START + timedelta(hours=2))) == (
        began,
        START + timedelta(hours=2),
    )


def test_unknown_prestart_falls_back_to_the_template() -> None:
    """No record (e.g. after a restart): the template's fixed 30-minute HVAC lead."""
    window = window_with_prestarts(SITE, lambda z, s: None)
    start, _ = window(B("b", "court", START, START + timedelta(hours=2)))
    assert start == START - timedelta(minutes=30)


def test_lights_lead_counts_when_longer() -> None:
    """HVAC started 2 min before: the lights' 5-minute lead still opens the window."""
    window = window_with_prestarts(SITE, lambda z, s: START - timedelta(minutes=2))
    start, _ = window(B("b", "court", START, START + timedelta(hours=1)))
    assert start == START - timedelta(minutes=5)
