"""Explain: level, cause, since/until and the levels below the winner."""

from __future__ import annotations

from rules import Level, evaluate, explain
from rules.model import Override, World
from tests.rules.scenario import at, booking, hall_site


def test_explain_override_over_booking() -> None:
    """A technician override wins over the booking; explain names both with their windows."""
    ov = Override(
        id="o7",
        output="dali1.court3",
        value=False,
        issued_at=at(19, 30),
        expires_at=at(20),
        source="technician",
        by="li",
        reason="cleaning",
    )
    w = World(
        site=hall_site(), bookings=(booking("b1", "court3", at(19), at(21)),), overrides=(ov,)
    )
    e = explain(evaluate(w, at(19, 45)), "dali1.court3")
    assert (e.value, e.level, e.priority, e.cause_kind, e.cause_id) == (
        False,
        Level.MANUAL,
        8,
        "override",
        "o7",
    )
    assert (e.since, e.until) == (at(19, 30), at(20))
    assert [lv.level for lv in e.levels] == [Level.MANUAL, Level.BOOKING, Level.DEFAULT]
    assert e.levels[1].cause.id == "b1" and e.levels[1].cause.until == at(21, 10)
    text = e.text()
    assert "dali1.court3 = False  [8 manual] override o7" in text and "cleaning" in text
    assert "overridden: 10 booking wants True" in text


def test_explain_unknown_and_empty_outputs() -> None:
    """An unknown output is reported as such, without raising."""
    e = explain(evaluate(World(site=hall_site()), at(10)), "nope.nothing")
    assert not e.known and e.value is None
    assert "unknown output" in e.text()


def test_expired_override_relinquishes() -> None:
    """After expires_at the manual level is empty again (auto-relinquish)."""
    ov = Override(
        id="o",
        output="dali1.court1",
        value=True,
        issued_at=at(9),
        expires_at=at(10),
        source="cloud",
        by="cmd-42",
    )
    w = World(site=hall_site(), overrides=(ov,))
    assert evaluate(w, at(9, 59)).value("dali1.court1") is True
    ev = evaluate(w, at(10))
    assert ev.value("dali1.court1") is False
    assert evaluate(w, at(9, 59)).next_change == at(10)
