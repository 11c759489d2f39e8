"""Loading the [rules] config: the documented example, and clear errors for bad configs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import evaluate
from rules.config import SiteConfigError, load_site
from rules.model import World
from tests.rules.scenario import at

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def doc_example() -> dict[str, Any]:
    """The TOML example of docs/rules.md, decoded."""
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    return tomllib.loads(block.group(1))["rules"]  # type: ignore[no-any-return]


def test_documented_example_loads_and_evaluates() -> None:
    """The docs example is a valid site and drives the lobby lights on a Saturday at noon."""
    site = load_site(doc_example())
    assert site.zones[2].template.lights_post_end is not None
    assert site.event_rules[0].hold.total_seconds() == 300
    ev = evaluate(World(site=site), at(4))  # Sat 12:00 in Shanghai
    assert ev.value("relay1.lobby_lights") is True


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"zones": [{"id": "z", "kind": "court", "colour": "red"}]}, "colour"),
        (
            {"templates": {"court": {"lights_pre_start": "five"}}},
            "templates.court.lights_pre_start",
        ),
        (
            {"event_rules": [{"id": "r", "trigger": "co2 > 1", "actions": []}]},
            "event_rules[0].trigger",
        ),
        (
            {
                "schedules": [
                    {"id": "s", "outputs": [{"output": "a.b"}], "weekly": {"mon": ["8-22"]}}
                ]
            },
            "schedules[0].weekly.mon",
        ),
        ({"timezone": "Nowhere/City"}, "unknown timezone"),
        ({"zones": [{"id": "z", "kind": "court", "target_temp_c": "warm"}]}, "target_temp_c"),
    ],
)
def test_bad_config_names_the_problem(patch: dict[str, Any], fragment: str) -> None:
    """Each bad config raises SiteConfigError whose message names the place."""
    raw = {"timezone": "UTC", **patch}
    with pytest.raises(SiteConfigError) as exc:
        load_site(raw)
    assert fragment in str(exc.value)
    assert exc.value.problems


def test_unknown_points_refused_at_load() -> None:
    """With the device point list, a rule on an unknown point is refused at load."""
    raw = doc_example()
    with pytest.raises(SiteConfigError) as exc:
        load_site(raw, known_points={"dali1.court1"})
    assert "unknown" in str(exc.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "timezone",
                "zones",
                "schedules",
                "event_rules",
                "templates",
                "emergency",
                "defaults",
                "max_booking",
            ]
        ),
        json_values,
        max_size=4,
    )
)
def test_garbage_config_only_raises_site_config_error(raw: dict[str, Any]) -> None:
    """Any decoded-TOML-like garbage gives a Site or SiteConfigError, nothing else."""
    try:
        load_site(raw)
    except SiteConfigError as exc:
        assert exc.problems
