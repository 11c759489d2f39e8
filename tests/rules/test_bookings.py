"""Bookings through templates: windows, merging, shared equipment, edits, no-show release."""

from __future__ import annotations

from datetime import timedelta

from rules import Level, evaluate
from rules.model import Entry, LightSpec, PointValue, Template, TemplatePatch, World, ZoneSpec
from rules.optimal_start import LearnedRates, observe
from tests.rules.scenario import at, booking, hall_site, replace


def test_lights_follow_template_window() -> None:
    """Court lights are on from 5 min before the start to 10 min after the end, off outside."""
    w = World(site=hall_site(), bookings=(booking("b1", "court3", at(19), at(21)),))
    assert evaluate(w, at(18, 54)).value("dali1.court3") is False
    assert evaluate(w, at(18, 55)).value("dali1.court3") is True
    assert evaluate(w, at(21, 9)).value("dali1.court3") is True
    assert evaluate(w, at(21, 10)).value("dali1.court3") is False


def test_hall_hvac_ready_at_start_with_fixed_lead() -> None:
    """Without a temperature reading the hall HVAC starts the fixed 30 min lead early, at 25 C."""
    w = World(site=hall_site(), bookings=(booking("b1", "court3", at(19), at(21)),))
    before, during = evaluate(w, at(18, 29)), evaluate(w, at(18, 30))
    assert (before.value("ahu1.run"), before.value("ahu1.setpoint")) == (False, 16.0)
    assert (during.value("ahu1.run"), during.value("ahu1.setpoint")) == (True, 25.0)
    assert evaluate(w, at(21)).value("ahu1.run") is False


def test_optimal_start_uses_learned_rate() -> None:
    """With 17 C in the hall and a learned 4 K/h, the AHU starts 2 h before the booking."""
    learned = observe(LearnedRates(), "hall", 17.0, 25.0, 2 * 3600, at(1))  # 4 K/h
    site = hall_site()
    hall = replace_zone(site.zones[0], temp_point="hall_sensor.temp")
    w = World(
        site=replace(site, zones=(hall, *site.zones[1:])),
        bookings=(booking("b1", "court3", at(19), at(21)),),
        inputs={"hall_sensor.temp": PointValue(value=17.0)},
        learned=learned,
    )
    assert evaluate(w, at(16, 59)).value("ahu1.run") is False
    ev = evaluate(w, at(17))
    assert ev.value("ahu1.run") is True
    assert "lead 120 min" in ev.outputs["ahu1.run"].winner.cause.detail  # type: ignore[union-attr]


def test_prestart_latch_keeps_hvac_on_while_zone_warms() -> None:
    """Once pre-heat began, a warmer reading (shorter lead) does not switch the AHU off again."""
    site = hall_site()
    hall = replace_zone(site.zones[0], temp_point="hall_sensor.temp")
    w = World(
        site=replace(site, zones=(hall, *site.zones[1:])),
        bookings=(booking("b1", "court3", at(19), at(21)),),
        inputs={"hall_sensor.temp": PointValue(value=16.0)},  # 9 K at 3 K/h: 3 h lead
    )
    ev = evaluate(w, at(16))
    assert ev.value("ahu1.run") is True
    warmer = replace(w, memory=ev.memory, inputs={"hall_sensor.temp": PointValue(value=22.0)})
    assert evaluate(warmer, at(17)).value("ahu1.run") is True  # lead now 1 h, but latched
    forgot = replace(warmer, memory=evaluate(w, at(15)).memory)  # no latch yet
    assert evaluate(forgot, at(17)).value("ahu1.run") is False


def test_back_to_back_bookings_merge() -> None:
    """Two back-to-back bookings give one continuous on window from the first pre-start."""
    w = World(
        site=hall_site(),
        bookings=(booking("a", "court1", at(19), at(20)), booking("b", "court1", at(20), at(21))),
    )
    for minute in range(18 * 60 + 55, 21 * 60 + 10):
        assert evaluate(w, at(0, minute)).value("dali1.court1") is True
    ev = evaluate(w, at(20, 5))
    cause = ev.outputs["dali1.court1"].winner.cause  # type: ignore[union-attr]
    assert (cause.since, cause.until) == (at(18, 55), at(21, 10))


def test_shared_hall_hvac_follows_union_of_courts() -> None:
    """The hall AHU runs while any court is booked, and stops after the last one."""
    w = World(
        site=hall_site(),
        bookings=(
            booking("a", "court1", at(9), at(10)),
            booking("b", "court6", at(9, 30), at(11)),
        ),
    )
    assert evaluate(w, at(10, 30)).value("ahu1.run") is True
    assert evaluate(w, at(11)).value("ahu1.run") is False


def test_output_listed_on_two_zones_follows_union() -> None:
    """A light output shared by two zones is on while either zone is booked."""
    site = hall_site()
    shared = LightSpec(output="dali1.shared")
    zones = tuple(
        replace_zone(z, lights=(*z.lights, shared)) if z.id in ("court1", "court2") else z
        for z in site.zones
    )
    w = World(
        site=replace(site, zones=zones),
        bookings=(booking("a", "court1", at(9), at(10)), booking("b", "court2", at(11), at(12))),
    )
    assert evaluate(w, at(9, 30)).value("dali1.shared") is True
    assert evaluate(w, at(10, 30)).value("dali1.shared") is False
    assert evaluate(w, at(11, 30)).value("dali1.shared") is True


def test_cancellation_takes_effect_at_once() -> None:
    """A cancellation (higher version) switches the lights off immediately, mid-booking."""
    b1 = booking("b1", "court2", at(19), at(21))
    w = World(site=hall_site(), bookings=(b1,))
    assert evaluate(w, at(19, 30)).value("dali1.court2") is True
    cancelled = booking("b1", "court2", at(19), at(21), version=2, status="cancelled")
    w2 = replace(w, bookings=(b1, cancelled))
    assert evaluate(w2, at(19, 30)).value("dali1.court2") is False


def test_edit_moves_window_and_older_version_is_ignored() -> None:
    """The latest version wins regardless of order; the older one has no effect."""
    v1 = booking("b1", "court2", at(19), at(21))
    v2 = booking("b1", "court2", at(15), at(16), version=2)
    for order in ((v1, v2), (v2, v1)):
        ev = evaluate(World(site=hall_site(), bookings=order), at(19, 30))
        assert ev.value("dali1.court2") is False
        assert (
            evaluate(World(site=hall_site(), bookings=order), at(15, 30)).value("dali1.court2")
            is True
        )


def test_invalid_bookings_are_skipped_and_reported() -> None:
    """Unknown zone, end <= start and > 24 h bookings are ignored and listed, not fatal."""
    w = World(
        site=hall_site(),
        bookings=(
            booking("x", "nowhere", at(9), at(10)),
            booking("y", "court1", at(10), at(9)),
            booking("z", "court1", at(0), at(0) + timedelta(hours=30)),
        ),
    )
    ev = evaluate(w, at(9, 30))
    assert ev.value("dali1.court1") is False
    assert len(ev.ignored) == 3
    assert any("unknown zone 'nowhere'" in s for s in ev.ignored)


def _release_site() -> World:
    site = hall_site(
        templates={"court": Template(target_temp_c=25.0, no_show_release=timedelta(minutes=15))}
    )
    zones = tuple(
        replace_zone(z, lights=(LightSpec(output="dali1.court1", on=100.0, off=0.0, dim=20.0),))
        if z.id == "court1"
        else z
        for z in site.zones
    )
    return World(
        site=replace(site, zones=zones), bookings=(booking("b1", "court1", at(19), at(21)),)
    )


def test_no_show_release_dims_lights_and_entry_brings_them_back() -> None:
    """No entry by start+15 min dims the court and sets the hall back; the next entry restores."""
    w = _release_site()
    assert evaluate(w, at(19, 14)).value("dali1.court1") == 100.0
    ev = evaluate(w, at(19, 15))
    assert ev.value("dali1.court1") == 20.0
    assert ev.value("ahu1.setpoint") == 18.0  # hall setback
    assert evaluate(w, at(19, 14)).next_change == at(19, 15)
    back = replace(w, entries=(Entry(booking_id="b1", at=at(19, 40)),))
    assert evaluate(back, at(19, 39)).value("dali1.court1") == 20.0
    assert evaluate(back, at(19, 40)).value("dali1.court1") == 100.0


def test_entry_before_deadline_prevents_release() -> None:
    """A granted entry within the release time keeps everything on."""
    w = replace(_release_site(), entries=(Entry(booking_id="b1", at=at(19, 2)),))
    assert evaluate(w, at(20)).value("dali1.court1") == 100.0
    assert evaluate(w, at(20)).value("ahu1.setpoint") == 25.0


def test_future_entries_are_not_known_yet() -> None:
    """An entry stamped after t does not change the result at t (pure in t)."""
    w = replace(_release_site(), entries=(Entry(booking_id="b1", at=at(20)),))
    assert evaluate(w, at(19, 30)).value("dali1.court1") == 20.0


def test_template_patch_per_zone() -> None:
    """A zone's template patch changes only that zone's window."""
    site = hall_site()
    zones = tuple(
        replace_zone(z, template=TemplatePatch(lights_post_end=timedelta(minutes=30)))
        if z.id == "court2"
        else z
        for z in site.zones
    )
    w = World(
        site=replace(site, zones=zones),
        bookings=(booking("a", "court1", at(9), at(10)), booking("b", "court2", at(9), at(10))),
    )
    ev = evaluate(w, at(10, 20))
    assert (ev.value("dali1.court1"), ev.value("dali1.court2")) == (False, True)
    assert ev.outputs["dali1.court2"].at(Level.BOOKING) is not None


def replace_zone(z: ZoneSpec, **kw: object) -> ZoneSpec:
    """A copy of a zone with some fields changed."""
    import msgspec

    return msgspec.structs.replace(z, **kw)
