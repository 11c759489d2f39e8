"""Profiles: every shipped file loads; bad files and overrides give path-bearing errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.errors import ProfileError
from drivers.modbus.points import DataType, Table
from drivers.modbus.profiles import (
    list_profiles,
    load_profile,
    parse_profile,
    profile_from_data,
    resolve,
)


def test_all_required_profiles_ship_and_load() -> None:
    """The six device models of the venue load strictly."""
    names = set(list_profiles())
    assert {
        "lighting_8ch",
        "hvac_fancoil",
        "gate_controller",
        "energy_meter",
        "fire_panel",
        "env_sensor",
    } <= names
    for name in names:
        assert load_profile(name).name == name


def test_unknown_key_is_rejected_with_path() -> None:
    """A typo in a point's key is an error naming the key and the point's index."""
    text = 'name = "x"\npoints = [{ name = "a", table = "coil", address = 0, writeable = true }]'
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "x.toml")
    assert "writeable" in str(info.value) and "$.points[0]" in str(info.value)
    assert info.value.where == "x.toml"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('{ name = "a", table = "coil", address = 0, datatype = "int16" }', "bool"),
        ('{ name = "a", table = "input", address = 0, writable = true }', "read-only"),
        ('{ name = "a", table = "holding", address = 70000 }', "65535"),
        (
            '{ name = "a", table = "holding", address = 0, datatype = "int32", write_fc = 6 }',
            "FC16",
        ),
        ('{ name = "a", table = "holding", address = 0, scale = 0 }', "scale"),
        ('{ name = "a", table = "tank", address = 0 }', "table"),
    ],
)
def test_invalid_points_are_explained(body: str, needle: str) -> None:
    """Each class of invalid point raises ProfileError mentioning the problem."""
    with pytest.raises(ProfileError) as info:
        parse_profile(f'name = "x"\npoints = [{body}]')
    assert needle in str(info.value)


def test_bad_toml_and_missing_profile(tmp_path: Path) -> None:
    """Broken TOML and unknown profile names give ProfileError, not tracebacks."""
    with pytest.raises(ProfileError, match="TOML"):
        parse_profile("name = ")
    with pytest.raises(ProfileError, match="available"):
        load_profile("nope", tmp_path)
    (tmp_path / "a.toml").write_text('name = "b"\npoints = [{name="x", table="coil", address=0}]')
    with pytest.raises(ProfileError, match="file name"):
        load_profile("a", tmp_path)


def test_resolve_overrides_single_points() -> None:
    """A venue device can move/retype one point; the rest stays the profile's."""
    meter = load_profile("energy_meter")
    custom = resolve(meter, {"import_kwh": {"datatype": "float32", "scale": 1.0, "address": 100}})
    kwh = custom.point("import_kwh")
    assert kwh is not None and kwh.datatype is DataType.FLOAT32 and kwh.address == 100
    assert custom.point("voltage") == meter.point("voltage")
    with pytest.raises(ProfileError, match="unknown points"):
        resolve(meter, {"nope": {"address": 1}})
    with pytest.raises(ProfileError, match="points"):
        resolve(meter, {"voltage": {"table": "coil"}})


def test_heartbeat_profiles_name_writable_registers() -> None:
    """Profiles with a device watchdog point it at a writable holding register."""
    for name in ("lighting_8ch", "hvac_fancoil"):
        profile = load_profile(name)
        assert profile.heartbeat is not None
        point = profile.point(profile.heartbeat.point)
        assert point is not None and point.writable and point.table is Table.HOLDING


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-70000, 70000) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
POINT_KEYS = st.sampled_from(
    [
        "name",
        "table",
        "address",
        "datatype",
        "bit",
        "length",
        "scale",
        "offset",
        "writable",
        "write_fc",
        "enum",
        "min",
        "max",
        "readback",
        "byte_order",
        "word_order",
        "precision",
    ]
)


@given(
    points=st.lists(st.dictionaries(POINT_KEYS, JSONISH, max_size=8), max_size=4),
    extra=st.dictionaries(st.sampled_from(["max_gap", "allow_gaps", "heartbeat", "x"]), JSONISH),
)
def test_profile_validation_never_crashes(
    points: list[dict[str, object]], extra: dict[str, object]
) -> None:
    """Arbitrary profile data is either a valid profile or a ProfileError, nothing else."""
    with contextlib.suppress(ProfileError):
        profile_from_data({"name": "fuzz", "points": points, **extra})


@given(text=st.text(max_size=300))
def test_profile_text_never_crashes(text: str) -> None:
    """Arbitrary TOML text gives a profile or a ProfileError."""
    with contextlib.suppress(ProfileError):
        parse_profile(text)
