"""The venue's role map: which point has which role, group kept per channel."""

from __future__ import annotations

from pathlib import Path

from edge.roles import RoleMap, RolePoint
from edge.venue import load_venue

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "venue.toml"


def test_roles_and_groups_come_back_as_given() -> None:
    roles = RoleMap(
        [
            ("light1", "ch1_on", ("lighting.switch",), "ch1"),
            ("light1", "ch1_level", ("lighting.level",), "ch1"),
            ("light1", "ch2_on", ("lighting.switch",), "ch2"),
            ("light1", "fw", (), ""),  # no role, no group: the common case
        ]
    )
    assert roles.roles_of("light1", "ch1_on") == ("lighting.switch",)
    assert roles.roles_of("light1", "fw") == ()
    assert roles.roles_of("nobody", "x") == ()
    assert roles.points("lighting.switch") == [
        RolePoint("light1", "ch1_on", "ch1"),
        RolePoint("light1", "ch2_on", "ch2"),
    ]
    assert roles.ref("light1", "lighting.level", "ch1") == "light1.ch1_level"
    assert roles.ref("light1", "lighting.level", "ch2") is None
    assert roles.devices("lighting.switch") == ["light1"]


def test_the_example_venues_inventory_carries_each_points_profile_roles() -> None:
    venue = load_venue(EXAMPLE)
    with_roles = [p for p in venue.points.values() if p.roles]
    assert with_roles, "the example venue has role points"
    for p in with_roles:
        assert venue.roles.roles_of(p.device, p.name) == p.roles, p.ref
    switches = {p.ref for p in venue.roles.points("lighting.switch")}
    assert switches == {p.ref for p in with_roles if "lighting.switch" in p.roles}
