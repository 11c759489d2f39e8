"""Point roles: a closed vocabulary, checked against each point, found by meaning.

Also the profile search path: a technician's profile in another directory loads with
no code, and may not shadow a shipped one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.errors import ProfileError
from drivers.modbus.points import DataType
from drivers.modbus.profiles import (
    PROFILE_DIR,
    list_profiles,
    load_profile,
    parse_profile,
    profile_files,
    profile_from_data,
    resolve,
    search_path,
)
from drivers.roles import ROLES, PointFacts, UnknownRole, ValueKind, get_role, role_problem

# A 4-relay board nobody shipped a profile for, as a technician writes it from the
# board's manual: relays are coils 0..3, inputs are discrete 0..3.
RELAY_BOARD = """
# Waveshare-style 4-channel Modbus RTU relay board, written on site.
name = "relay4_site"
description = "4-relay board: relays on coils 0..3, opto inputs on discrete 0..3"

points = [
  { name = "relay1", table = "coil", address = 0, writable = true, roles = ["lighting.switch"], group = "r1" },
  { name = "relay2", table = "coil", address = 1, writable = true, roles = ["lighting.switch"], group = "r2" },
  { name = "relay3", table = "coil", address = 2, writable = true },
  { name = "relay4", table = "coil", address = 3, writable = true },
  { name = "input1", table = "discrete", address = 0, roles = ["lighting.feedback"], group = "r1" },
  { name = "input2", table = "discrete", address = 1, roles = ["lighting.feedback"], group = "r2" },
]
"""  # noqa: E501


# ---- the vocabulary ----------------------------------------------------------------
def test_every_shipped_profile_carries_roles() -> None:
    """Each shipped profile tags every polled point except device watchdogs with a role."""
    for name in list_profiles():
        profile = load_profile(name)
        assert profile.roles(), f"{name} has no roles"
        watchdog = profile.heartbeat.point if profile.heartbeat else None
        untagged = [p.name for p in profile.points if not p.roles and p.name != watchdog]
        allowed = {"fire_gateway": ["disablements"]}.get(name, [])
        assert untagged == allowed, f"{name}: points without a role: {untagged}"


def test_shipped_profiles_answer_the_questions_the_daemon_asks() -> None:
    """Zones, energy, gates and the life-safety linkage find their points by role."""
    hvac = load_profile("hvac_fancoil")
    assert hvac.missing_roles(["hvac.enable", "hvac.setpoint"]) == []
    setpoint = hvac.point_with_role("hvac.setpoint")
    assert setpoint is not None and setpoint.name == "setpoint" and setpoint.writable
    meter = load_profile("energy_meter").point_with_role("meter.energy_import")
    assert meter is not None and meter.name == "import_kwh"
    gate = load_profile("gate_controller")
    relay = gate.point_with_role("gate.relay")
    pulse = gate.point_with_role("gate.pulse_length")
    assert (
        relay is not None
        and pulse is not None
        and (relay.name, pulse.name)
        == (
            "relay",
            "pulse_s",
        )
    )
    for name in ("fire_panel", "fire_gateway"):
        alarm = load_profile(name).point_with_role("fire.alarm")
        assert alarm is not None and alarm.name == "alarm"


def test_lighting_channels_pair_switch_and_feedback_by_group() -> None:
    """A channel's switch finds its own feedback, level and current through its group."""
    lights = load_profile("lighting_8ch")
    switches = lights.points_with_role("lighting.switch")
    assert [p.name for p in switches] == [f"ch{n}_on" for n in range(1, 9)]
    feedback = lights.companion("ch3_on", "lighting.feedback")
    current = lights.companion("ch3_on", "lighting.current")
    assert feedback is not None and feedback.name == "ch3_lamp"
    assert current is not None and current.name == "ch3_current"
    with pytest.raises(ProfileError, match=r"8 points have role 'lighting.switch'"):
        lights.point_with_role("lighting.switch")
    only = lights.point_with_role("lighting.switch", group="ch5")
    assert only is not None and only.name == "ch5_on"


def test_a_zone_device_without_a_role_is_named() -> None:
    """missing_roles names what a relay board lacks to serve as HVAC."""
    board = load_profile("lighting_8ch")
    assert board.missing_roles(["hvac.setpoint", "hvac.enable"]) == [
        "hvac.enable",
        "hvac.setpoint",
    ]


def test_asking_for_an_unknown_role_is_an_error_not_an_empty_answer() -> None:
    """A typo in the daemon's own role names fails loudly."""
    with pytest.raises(UnknownRole, match=r"hvac.setpoint"):
        load_profile("hvac_fancoil").points_with_role("hvac.set_point")


def test_unknown_role_in_a_profile_names_the_role_and_the_known_ones() -> None:
    """A profile with a misspelt role is refused with the role, a suggestion and the list."""
    text = (
        'name = "x"\npoints = [{ name = "sp", table = "holding", address = 0,'
        ' writable = true, roles = ["hvac.set_point"] }]'
    )
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "x.toml")
    message = str(info.value)
    assert "unknown role 'hvac.set_point'" in message
    assert "did you mean 'hvac.setpoint'" in message
    assert "known roles:" in message and "lighting.switch" in message
    assert "$.points[0]" in message and info.value.where == "x.toml"


@pytest.mark.parametrize(
    ("point", "needle"),
    [
        # A setpoint edged writes must be writable.
        ('table = "holding", address = 0, roles = ["hvac.setpoint"]', "must be writable"),
        # A switch is a bool, not a register.
        ('table = "holding", address = 0, writable = true, roles = ["lighting.switch"]',
         "needs a bool"),
        # A mode is an enum.
        ('table = "holding", address = 0, writable = true, roles = ["hvac.mode"]',
         "integer with an enum"),
        # An energy counter is a number, not a bit.
        ('table = "discrete", address = 0, roles = ["meter.energy_import"]', "number"),
        # A fault code with labels cannot say "no fault".
        ('table = "input", address = 0, enum = { "0" = "ok" }, roles = ["hvac.fault"]',
         "fault code"),
        # The device status role is for status tables only.
        ('table = "input", address = 0, roles = ["fire.device_status"]', "status_table"),
        # A role twice.
        ('table = "coil", address = 0, roles = ["door.contact", "door.contact"]', "twice"),
    ],
)  # fmt: skip
def test_a_role_that_does_not_fit_its_point_is_refused(point: str, needle: str) -> None:
    """Each role says what value it carries and whether edged writes it."""
    with pytest.raises(ProfileError, match=needle):
        parse_profile(f'name = "x"\npoints = [{{ name = "p", {point} }}]')


def test_vocabulary_is_consistent() -> None:
    """Names are domain.meaning, commands are never tables or counts, counts name a state."""
    for name, role in ROLES.items():
        assert name == role.name and name.count(".") == 1 and name == name.lower()
        assert get_role(name) is role
        if role.value is ValueKind.COUNT:
            assert role.count_state in ("normal", "alarm", "fault", "disabled")
            assert not role.command
        if role.command:
            assert role.value in (ValueKind.BOOL, ValueKind.NUMBER, ValueKind.ENUM)
    fits = role_problem("lighting.switch", PointFacts("bool", writable=True))
    assert fits is None


# ---- technician profiles -----------------------------------------------------------
def test_technician_relay_board_from_another_directory_loads(tmp_path: Path) -> None:
    """A profile written on site in its own directory loads with no code, roles and all."""
    site = tmp_path / "etc-edge-profiles"
    site.mkdir()
    (site / "relay4_site.toml").write_text(RELAY_BOARD)
    path = search_path(site)
    assert path[0] == PROFILE_DIR
    names = list_profiles(path)
    assert "relay4_site" in names and "lighting_8ch" in names
    board = load_profile("relay4_site", path)
    assert [p.name for p in board.points_with_role("lighting.switch")] == ["relay1", "relay2"]
    feedback = board.companion("relay2", "lighting.feedback")
    assert feedback is not None and feedback.name == "input2"
    assert profile_files(path)["relay4_site"] == site / "relay4_site.toml"
    # Shipped profiles still load through the same path, and by name alone.
    assert load_profile("lighting_8ch", path) == load_profile("lighting_8ch")


def test_roles_come_through_resolve_overrides(tmp_path: Path) -> None:
    """A venue device can give a point a role (or take it away) with a point override."""
    site = tmp_path / "profiles"
    site.mkdir()
    (site / "relay4_site.toml").write_text(RELAY_BOARD)
    board = load_profile("relay4_site", search_path(site))
    wired = resolve(
        board,
        {
            "relay3": {"roles": ["lighting.switch"], "group": "r3"},
            "relay1": {"roles": []},
        },
    )
    assert [p.name for p in wired.points_with_role("lighting.switch")] == ["relay2", "relay3"]
    relay3 = wired.point("relay3")
    assert relay3 is not None and relay3.roles == ("lighting.switch",) and relay3.group == "r3"
    with pytest.raises(ProfileError, match=r"unknown role 'lighting.swtich'"):
        resolve(board, {"relay3": {"roles": ["lighting.swtich"]}})
    with pytest.raises(ProfileError, match="must be writable"):
        resolve(board, {"relay3": {"writable": False, "roles": ["lighting.switch"]}})


def test_a_technician_profile_may_not_shadow_a_shipped_one(tmp_path: Path) -> None:
    """Same name as a shipped profile: refused, naming both files and the fix."""
    site = tmp_path / "profiles"
    site.mkdir()
    (site / "lighting_8ch.toml").write_text(RELAY_BOARD.replace("relay4_site", "lighting_8ch"))
    with pytest.raises(ProfileError) as info:
        load_profile("energy_meter", search_path(site))
    message = str(info.value)
    assert "lighting_8ch" in message and "shadow" in message and "rename" in message
    assert str(PROFILE_DIR / "lighting_8ch.toml") in message
    with pytest.raises(ProfileError, match="shadow"):
        list_profiles(search_path(site))


def test_search_path_problems_are_explained(tmp_path: Path) -> None:
    """A missing directory and an unknown name say what is wrong; the shipped dir is once."""
    with pytest.raises(ProfileError, match="does not exist"):
        list_profiles(search_path(tmp_path / "nope"))
    assert search_path(PROFILE_DIR) == (PROFILE_DIR,)
    with pytest.raises(ProfileError, match=r"available: .*relay4_site"):
        (tmp_path / "relay4_site.toml").write_text(RELAY_BOARD)
        load_profile("relay8", search_path(tmp_path))


# ---- fuzz ------------------------------------------------------------------------------
ROLE_NAMES = st.sampled_from(sorted(ROLES)) | st.text(max_size=20)
POINT_SHAPES = st.fixed_dictionaries(
    {
        "name": st.just("p"),
        "table": st.sampled_from(["coil", "discrete", "holding", "input"]),
        "address": st.integers(0, 10),
    },
    optional={
        "writable": st.booleans(),
        "datatype": st.sampled_from([d.value for d in DataType]),
        "enum": st.just({"0": "off", "1": "on"}),
        "bit": st.integers(0, 15),
        "group": st.text(max_size=5),
        "roles": st.lists(ROLE_NAMES, max_size=3),
    },
)


@given(point=POINT_SHAPES)
def test_roles_never_crash_profile_validation(point: dict[str, object]) -> None:
    """Any roles on any point give a profile whose points fit their roles, or ProfileError."""
    with contextlib.suppress(ProfileError):
        profile = profile_from_data({"name": "fuzz", "points": [point]})
        for p in profile.points:
            facts = PointFacts(p.datatype.value, p.writable, p.enum is not None)
            for role in p.roles:
                assert role_problem(role, facts) is None
