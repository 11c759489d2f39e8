"""Booking windows from the rules templates."""

from __future__ import annotations

from datetime import timedelta

from edge.energy.windows import window_from_site
from rules.model import HvacSpec, LightSpec, Site, TemplatePatch, ZoneSpec

from .synthetic import B, at


def test_window_starts_at_the_longer_of_lights_and_inherited_hvac_lead() -> None:
    """A court lit 5 min ahead under a hall HVAC with a 30 min lead starts 30 min early;
    a room with its own 45 min lead and no lights starts 45 min early; end is the end."""
    site = Site(
        timezone="Asia/Shanghai",
        zones=(
            ZoneSpec(id="hall", kind="hall", hvac=(HvacSpec(enable="h.on"),)),
            ZoneSpec(id="court-1", kind="court", parent="hall",
                     lights=(LightSpec(output="l.ch1_on"),)),
            ZoneSpec(id="room", kind="room", hvac=(HvacSpec(enable="r.on"),),
                     template=TemplatePatch(hvac_fixed_lead=timedelta(minutes=45))),
            ZoneSpec(id="lobby", kind="lobby", lights=(LightSpec(output="l.ch2_on"),)),
        ),
    )  # fmt: skip
    window = window_from_site(site)
    assert window(B("b", "court-1", at(19), at(21))) == (at(18, 30), at(21))
    assert window(B("b", "room", at(19), at(21)))[0] == at(18, 15)
    assert window(B("b", "lobby", at(19), at(21)))[0] == at(18, 55)
    assert window(B("b", "nowhere", at(19), at(21)))[0] == at(19)
