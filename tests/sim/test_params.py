"""Simulation parameters: decoded strictly; any text is either parameters or a SimConfigError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import SimConfigError
from sim.params import SimParams, parse_params


def test_defaults_and_overrides_by_device_zone_and_kind() -> None:
    """Per-device and per-zone values win over kind defaults and global defaults."""
    p = parse_params(
        """
        [hvac_devices.ahu-1]
        rated_w = 15000.0
        [zones.hall]
        volume_m3 = 9000.0
        [zone_kinds.court]
        people_when_occupied = 6
        """
    )
    assert p.hvac_of("ahu-1").rated_w == 15000.0
    assert p.hvac_of("fcu-9").rated_w == SimParams().hvac.rated_w
    assert p.zone("hall", "hall").volume_m3 == 9000.0
    assert p.zone("court-1", "court").people_when_occupied == 6
    assert p.zone("reading", "reading_room").people_when_occupied == 40  # built-in kind default


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("tick_s = 0\n", "tick_s"),
        ("[weather]\nmin_hour = 24\n", "min_hour"),
        ("[weather]\nmin_c = 30\nmax_c = 20\n", "min_c"),
        ("[lights]\nchannel_w = -1\n", "channel_w"),
        ("[meters.m1]\nloads = 'lights-1'\n", "loads"),
        ("speed = 2\n", "speed"),
        ("not toml [", "TOML"),
    ],
)
def test_bad_parameters_name_the_field(text: str, where: str) -> None:
    """Each bad value is refused with the offending key in the message."""
    with pytest.raises(SimConfigError, match=where):
        parse_params(text)


@given(st.text(max_size=200))
def test_any_text_is_parameters_or_a_clear_error(text: str) -> None:
    """Whatever the file holds, parsing returns SimParams or raises SimConfigError."""
    try:
        assert isinstance(parse_params(text), SimParams)
    except SimConfigError as exc:
        assert exc.where == "<params>"


@given(
    st.dictionaries(
        st.sampled_from(["tick_s", "weather", "lights", "hvac", "zones", "meters", "rtu"]),
        st.one_of(
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=5),
            st.booleans(),
            st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
        ),
        max_size=4,
    )
)
def test_any_toml_shaped_data_is_parameters_or_a_clear_error(data: dict[str, object]) -> None:
    """Well-formed TOML with wrong types or ranges never escapes as anything but SimConfigError."""
    from sim.tomlw import dumps

    with contextlib.suppress(SimConfigError):
        parse_params(dumps(data))
