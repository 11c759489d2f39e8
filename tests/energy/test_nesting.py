"""Main meters and their sub-meters: inferred from the zones, or named in [energy.upstream]."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.clock import SimClock
from edge.config.errors import ConfigError
from edge.energy import BookingEnergy, EnergyConfig, EnergyService
from edge.energy.nesting import downstream, upstream_meters
from edge.energy.windows import fixed_window
from edge.storage import Database
from edge.venue import venue_from_bytes

from .synthetic import DAY, B, at, venue

PARENTS = {"hall": None, "court-1": "hall", "court-2": "hall", "annex": "court-1"}


def test_a_court_meter_is_inside_its_halls_main_meter() -> None:
    meters = {"m-hall": "hall", "m-c1": "court-1", "m-c2": "court-2", "m-site": None}
    up, problems = upstream_meters(meters, PARENTS, {}, infer=True)
    assert (up, problems) == ({"m-c1": "m-hall", "m-c2": "m-hall"}, [])
    assert downstream(up) == {"m-hall": ["m-c1", "m-c2"]}


def test_the_nearest_metered_zone_above_counts_it() -> None:
    """A meter two levels down belongs to the court's meter, not the hall's."""
    meters = {"m-hall": "hall", "m-c1": "court-1", "m-annex": "annex"}
    up, _ = upstream_meters(meters, PARENTS, {}, infer=True)
    assert up == {"m-c1": "m-hall", "m-annex": "m-c1"}
    meters = {"m-hall": "hall", "m-annex": "annex"}  # court-1 has no meter: skip it
    assert upstream_meters(meters, PARENTS, {}, infer=True)[0] == {"m-annex": "m-hall"}


def test_separate_circuits_and_explicit_choices() -> None:
    meters = {"m-hvac": "hall", "m-light": "hall", "m-c1": "court-1"}
    assert upstream_meters(meters, PARENTS, {}, infer=False) == ({}, [])
    up, problems = upstream_meters(meters, PARENTS, {}, infer=True)
    assert up == {}
    assert problems == [
        (
            "energy.upstream.m-c1",
            "zone 'hall' above 'm-c1' has several meters ['m-hvac', 'm-light']: say which one"
            ' counts \'m-c1\' too, e.g. [energy.upstream] m-c1 = "m-hvac" ("" for none)',
        )
    ]
    assert upstream_meters(meters, PARENTS, {"m-c1": "m-light"}, infer=True) == (
        {"m-c1": "m-light"},
        [],
    )
    assert upstream_meters(meters, PARENTS, {"m-c1": ""}, infer=True) == ({}, [])


def test_bad_explicit_entries_are_named() -> None:
    meters = {"m-a": "hall", "m-b": "court-1"}
    _, problems = upstream_meters(
        meters, PARENTS, {"m-x": "m-a", "m-b": "m-zz", "m-a": "m-a"}, infer=False
    )
    assert [p for p, _ in problems] == [
        "energy.upstream.m-a",
        "energy.upstream.m-b",
        "energy.upstream.m-x",
    ]
    assert "cannot be upstream of itself" in problems[0][1]
    assert "'m-zz' is not a meter; meters" in problems[1][1]
    _, problems = upstream_meters(meters, PARENTS, {"m-a": "m-b", "m-b": "m-a"}, infer=False)
    assert problems and "loop" in problems[0][1]


def test_the_config_loader_reports_an_ambiguous_main_meter() -> None:
    text = """
[site]
id = "s"
gateway = "g"
timezone = "Asia/Shanghai"

[[zones]]
id = "hall"
kind = "hall"

[[zones]]
id = "court-1"
kind = "court"
parent = "hall"

[[buses]]
id = "b"
kind = "modbus_tcp"
host = "127.0.0.1"
"""
    for i, (dev, zone) in enumerate([("m-hvac", "hall"), ("m-light", "hall"), ("m-c1", "court-1")]):
        text += f"""
[[devices]]
id = "{dev}"
profile = "energy_meter"
bus = "b"
unit_id = {i + 1}
zone = "{zone}"
"""
    with pytest.raises(ConfigError) as err:
        venue_from_bytes(text.encode(), "venue.toml")
    assert "energy.upstream.m-c1: zone 'hall' above 'm-c1' has several meters" in str(err.value)
    fixed = text + '\n[energy.upstream]\nm-c1 = "m-light"\n'
    assert venue_from_bytes(fixed.encode(), "venue.toml").config.energy.upstream == {
        "m-c1": "m-light"
    }


async def test_a_booking_counts_its_court_once(tmp_path: Path) -> None:
    """Hall main meter = hall HVAC + court lighting; the court's booking gets its court meter
    plus the main meter less the court meter: the lighting is not counted twice."""
    clock = SimClock(DAY)
    meters = {"m-hall": "hall", "m-c1": "court-1"}
    b1 = B("b1", "court-1", at(8), at(9))
    svc = EnergyService(
        venue(meters), EnergyConfig(), Database.open(tmp_path / "e.db"), clock,
        bookings=lambda: [b1], window=fixed_window(timedelta(0)),
    )  # fmt: skip
    out: list[BookingEnergy] = []
    svc.subscribe(lambda r: out.append(r) if isinstance(r, BookingEnergy) else None)
    hvac_kw, lights_kw = 10.0, 1.6
    for k in range(0, 3 * 360 + 1):  # 07:30-10:30, a reading every 10 s
        t = at(7, 30) + timedelta(seconds=10 * k)
        hours = 10 * k / 3600
        svc.reading("m-c1", t, 100.0 + lights_kw * hours)
        svc.reading("m-hall", t, 5000.0 + (hvac_kw + lights_kw) * hours)
    clock.jump((at(10, 30) - DAY).total_seconds())
    svc.process()
    assert len(out) == 1
    assert out[0].meters["m-c1"] == pytest.approx(1.6, abs=0.01)
    assert out[0].meters["m-hall"] == pytest.approx(10.0, abs=0.01)
    assert out[0].kwh == pytest.approx(11.6, abs=0.01)


NAMES = st.sampled_from(["a", "b", "c", "d", "e", ""])


@given(
    meter_zone=st.dictionaries(st.sampled_from(["m1", "m2", "m3", "m4"]), st.none() | NAMES),
    parents=st.dictionaries(NAMES, st.none() | NAMES),
    explicit=st.dictionaries(st.sampled_from(["m1", "m2", "m3", "m4", "x"]), NAMES | st.just("m1")),
    infer=st.booleans(),
)
def test_any_zones_and_mappings_give_a_forest_or_named_problems(
    meter_zone: dict[str, str | None],
    parents: dict[str, str | None],
    explicit: dict[str, str],
    infer: bool,
) -> None:
    """Never raises; without problems the result is a forest of real meters (no loops);
    every problem names a config path under energy.upstream."""
    up, problems = upstream_meters(meter_zone, parents, explicit, infer)
    assert all(path.startswith("energy.upstream.") and msg for path, msg in problems)
    assert all(m in meter_zone and u in meter_zone and m != u for m, u in up.items())
    if not problems:
        for m in up:
            seen, cur = {m}, up.get(m)
            while cur is not None:
                assert cur not in seen
                seen.add(cur)
                cur = up.get(cur)
