"""Life safety: the precomputed table, the latch, and precedence over everything."""

from __future__ import annotations

from datetime import timedelta

from rules import Level, evaluate
from rules.emergency import emergency_outputs, latch
from rules.model import (
    EmergencyLatch,
    EmergencyPolicy,
    GateSpec,
    HvacSpec,
    LightSpec,
    Override,
    PointValue,
    World,
    ZoneSpec,
)
from tests.rules.scenario import at, booking, hall_site, replace


def test_table_opens_gates_lights_full_air_policy() -> None:
    """Gates open, lights at their full value, HVAC enables per policy, per-device air wins."""
    zones = (
        ZoneSpec(
            id="hall",
            kind="hall",
            hvac=(HvacSpec(enable="ahu1.run", setpoint="ahu1.sp"),),
            lights=(
                LightSpec(output="dali1.hall", on=80.0, off=0.0, full=100.0),
                LightSpec(output="relay1.hall"),
            ),
        ),
        ZoneSpec(id="smoke", kind="room", hvac=(HvacSpec(enable="smoke_fan.run"),)),
    )
    policy = EmergencyPolicy(
        egress_gates=(GateSpec(output="gate1.open"), GateSpec(output="gate2.cmd", open=1)),
        hvac_enable=False,
        air={"smoke_fan.run": True},
    )
    assert emergency_outputs(policy, zones) == {
        "ahu1.run": False,
        "smoke_fan.run": True,
        "dali1.hall": 100.0,
        "relay1.hall": True,
        "gate1.open": True,
        "gate2.cmd": 1,
    }


def test_alarm_overrides_booking_override_and_default() -> None:
    """During an alarm the manual override and the booking lose to life safety."""
    ov = Override(
        id="o1",
        output="dali1.court1",
        value=False,
        issued_at=at(9),
        expires_at=at(12),
        source="technician",
        by="li",
    )
    w = World(
        site=hall_site(),
        bookings=(booking("b", "court1", at(9), at(11)),),
        overrides=(ov,),
        inputs={"firepanel.alarm": PointValue(value=True)},
    )
    ev = evaluate(w, at(10))
    assert ev.value("dali1.court1") is True
    assert ev.value("dali1.court2") is True  # unbooked court: full too
    assert ev.value("gate1.open") is True
    assert ev.value("ahu1.run") is False  # smoke control
    assert [w.level for w in ev.outputs["dali1.court1"].levels] == [
        Level.LIFE_SAFETY,
        Level.MANUAL,
        Level.BOOKING,
        Level.DEFAULT,
    ]


def test_latch_holds_until_cleared_and_reset() -> None:
    """The emergency holds after the panel clears until a reset issued after the clearing."""
    site = hall_site()
    alarm = World(site=site, inputs={"firepanel.alarm": PointValue(value=True)})
    ev = evaluate(alarm, at(10))
    clear = replace(alarm, inputs={"firepanel.alarm": PointValue(value=False)}, memory=ev.memory)
    ev = evaluate(clear, at(10, 5))
    assert ev.value("gate1.open") is True  # still latched
    early = replace(clear, memory=ev.memory, emergency_reset_at=at(10, 1))  # before clearing
    assert evaluate(early, at(10, 6)).value("gate1.open") is True
    reset = replace(clear, memory=ev.memory, emergency_reset_at=at(10, 6))
    ev = evaluate(reset, at(10, 6))
    assert ev.value("gate1.open") is None
    assert ev.value("dali1.court1") is False


def test_latch_function() -> None:
    """latch(): alarm sets, reset before clearing is ignored, reset after clearing releases."""
    t0 = at(10)
    s = latch(EmergencyLatch(), True, None, t0)
    assert s.since == t0
    s = latch(s, False, t0, t0 + timedelta(seconds=1))
    assert s.since == t0 and s.cleared_at == t0 + timedelta(seconds=1)
    assert latch(s, False, t0 + timedelta(seconds=2), t0 + timedelta(seconds=2)) == EmergencyLatch()
    assert latch(s, True, t0 + timedelta(seconds=2), t0 + timedelta(seconds=2)).cleared_at is None


def test_bad_quality_alarm_input_does_not_trigger() -> None:
    """A fire input with bad quality does not start an evacuation by itself."""
    w = World(site=hall_site(), inputs={"firepanel.alarm": PointValue(value=True, quality="bad")})
    assert evaluate(w, at(10)).value("gate1.open") is None
