"""Config string parsers: examples, and hypothesis: only ParseError, never a crash."""

from __future__ import annotations

import contextlib
from datetime import time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import ParseError
from rules.model import Comparison
from rules.parse import parse_condition, parse_duration, parse_span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("5min", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("0", timedelta(0)),
        ("PT5M", timedelta(minutes=5)),
        ("P1DT2H", timedelta(hours=26)),
        ("250ms", timedelta(seconds=0.25)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    """Human and ISO 8601 durations parse to the right timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "five minutes", "5x", "-5m", "P", "PT", "5m garbage"])
def test_bad_durations(text: str) -> None:
    """Bad durations raise ParseError with a hint."""
    with pytest.raises(ParseError) as exc:
        parse_duration(text)
    assert "5m" in exc.value.hint


def test_condition_with_and() -> None:
    """Comparisons joined by "and" all become part of the condition."""
    c = parse_condition("hall_iaq.co2 > 1200 and hall_iaq.temp <= 30.5 and door.open == false")
    assert c.all == (
        Comparison(point="hall_iaq.co2", op=">", value=1200.0),
        Comparison(point="hall_iaq.temp", op="<=", value=30.5),
        Comparison(point="door.open", op="==", value=0.0),
    )


@pytest.mark.parametrize("text", ["co2 > 1200", "a.b >> 3", "a.b > x", "a.b > 1 or c.d < 2", ""])
def test_bad_conditions(text: str) -> None:
    """Points without a device, bad operators, "or" and empty text are refused."""
    with pytest.raises(ParseError):
        parse_condition(text)


def test_spans() -> None:
    """Spans parse; 24:00 means midnight; start == end only for the whole day."""
    assert parse_span("08:00-22:00").start == time(8)
    assert parse_span("22:00-02:00").end == time(2)
    assert parse_span("00:00-24:00").end == time(0)
    for bad in ("8-22", "25:00-26:00", "10:00-10:00", "10:60-11:00"):
        with pytest.raises(ParseError):
            parse_span(bad)


@given(st.text(max_size=40))
def test_parsers_only_raise_parse_error(text: str) -> None:
    """Arbitrary text either parses or raises ParseError, nothing else."""
    for parse in (parse_duration, parse_condition, parse_span):
        with contextlib.suppress(ParseError):
            parse(text)


@given(st.from_regex(r"[0-9]{1,6}(s|m|h|d)([0-9]{1,3}(s|m))?", fullmatch=True))
def test_valid_durations_are_non_negative(text: str) -> None:
    """Every well-formed duration is >= 0 (or refused as too long)."""
    try:
        assert parse_duration(text) >= timedelta(0)
    except ParseError as exc:
        assert "10 years" in exc.reason
