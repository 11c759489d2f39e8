"""A whole simulated day of a 6-court hall, stepped by next_change: the exact timeline."""

from __future__ import annotations

from datetime import datetime

from rules.model import Value, World
from tests.rules.scenario import at, booking, hall_site, step_through, values

BOOKINGS = (
    booking("c1-a", "court1", at(8), at(9)),
    booking("c1-b", "court1", at(9), at(10)),  # back-to-back with c1-a
    booking("c1-c", "court1", at(10, 20), at(11)),  # 10 min gap: lights off 10:10-10:15
    booking("c2-a", "court2", at(8, 30), at(9, 30)),
    booking("c3-a", "court3", at(12), at(13), version=1),
    booking("c3-a", "court3", at(12), at(13), version=2, status="cancelled"),
    booking("c4-a", "court4", at(18), at(20), version=1),
    booking("c4-a", "court4", at(19), at(21), version=2),  # edited: moved one hour later
    booking("c5-a", "court5", at(10, 5), at(11)),
    booking("c6-a", "court6", at(21), at(22)),
)

EXPECTED: list[tuple[datetime, dict[str, Value | None]]] = [
    (at(7, 30), {"ahu1.run": True, "ahu1.setpoint": 25.0}),
    (at(7, 55), {"dali1.court1": True}),
    (at(8, 25), {"dali1.court2": True}),
    (at(9, 40), {"dali1.court2": False}),
    (at(10, 0), {"dali1.court5": True}),
    (at(10, 10), {"dali1.court1": False}),
    (at(10, 15), {"dali1.court1": True}),
    (at(11, 0), {"ahu1.run": False, "ahu1.setpoint": 16.0}),
    (at(11, 10), {"dali1.court1": False, "dali1.court5": False}),
    (at(18, 30), {"ahu1.run": True, "ahu1.setpoint": 25.0}),
    (at(18, 55), {"dali1.court4": True}),
    (at(20, 55), {"dali1.court6": True}),
    (at(21, 10), {"dali1.court4": False}),
    (at(22, 0), {"ahu1.run": False, "ahu1.setpoint": 16.0}),
    (at(22, 10), {"dali1.court6": False}),
]


def _changes(world: World) -> tuple[list[tuple[datetime, dict[str, Value | None]]], list[datetime]]:
    steps = step_through(world, at(0), at(23, 59))
    changes = []
    prev = values(steps[0][1])
    for t, ev in steps[1:]:
        now = values(ev)
        diff = {
            o: v for o, v in now.items() if prev.get(o) != v or type(prev.get(o)) is not type(v)
        }
        if diff:
            changes.append((t, diff))
        prev = now
    return changes, [t for t, _ in steps]


def test_day_timeline_is_exact() -> None:
    """Stepping through the day gives exactly the expected changes at the expected instants."""
    changes, _ = _changes(World(site=hall_site(), bookings=BOOKINGS))
    assert changes == EXPECTED


def test_day_needs_no_spurious_wakeups() -> None:
    """Every next_change of the day is an instant where some output really changes."""
    changes, instants = _changes(World(site=hall_site(), bookings=BOOKINGS))
    assert instants[1:] == [t for t, _ in changes]


def test_day_start_state_is_all_off() -> None:
    """At midnight every light and the AHU are off, the setpoint at its default, gates untouched."""
    ev = step_through(World(site=hall_site(), bookings=BOOKINGS), at(0), at(0))[0][1]
    got = values(ev)
    assert got["ahu1.run"] is False and got["ahu1.setpoint"] == 16.0
    assert all(got[f"dali1.court{i}"] is False for i in range(1, 7))
    assert got.get("gate1.open") is None
