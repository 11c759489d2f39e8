"""Builders shared by the rules tests: a 6-court hall, a lobby, stepping helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from rules import Evaluation, evaluate
from rules.model import (
    AlarmInput,
    Booking,
    EmergencyPolicy,
    GateSpec,
    HvacSpec,
    LightSpec,
    Site,
    Value,
    World,
    ZoneSpec,
)

DAY = datetime(2026, 11, 21, tzinfo=UTC)
COURTS = tuple(f"court{i}" for i in range(1, 7))


def at(h: int, m: int = 0) -> datetime:
    """An instant of the test day (UTC)."""
    return DAY + timedelta(hours=h, minutes=m)


def hall_site(**site_kw: object) -> Site:
    """A hall (shared AHU) with six courts, each with its own light output."""
    zones = [
        ZoneSpec(
            id="hall",
            kind="hall",
            hvac=(HvacSpec(enable="ahu1.run", setpoint="ahu1.setpoint"),),
            setback_temp_c=18.0,
        )
    ]
    zones += [
        ZoneSpec(id=c, kind="court", parent="hall", lights=(LightSpec(output=f"dali1.{c}"),))
        for c in COURTS
    ]
    kw: dict[str, object] = {
        "timezone": "Europe/Paris",
        "zones": tuple(zones),
        "defaults": {"ahu1.setpoint": 16.0},
        "emergency": EmergencyPolicy(
            alarms=(AlarmInput(point="firepanel.alarm"),),
            egress_gates=(GateSpec(output="gate1.open"),),
            hvac_enable=False,
        ),
    }
    kw.update(site_kw)
    return msgspec.convert(kw, Site, from_attributes=True)


def booking(
    bid: str, zone: str, start: datetime, end: datetime, version: int = 1, status: str = "confirmed"
) -> Booking:
    """A confirmed booking."""
    return Booking(
        booking_id=bid,
        zone=zone,
        start=start,
        end=end,
        member="m",
        version=version,
        status="cancelled" if status == "cancelled" else "confirmed",
    )


def replace(world: World, **kw: object) -> World:
    """A copy of the world with some fields changed."""
    return msgspec.structs.replace(world, **kw)


def step_through(
    world: World, start: datetime, stop: datetime
) -> list[tuple[datetime, Evaluation]]:
    """Evaluate at start and then at every next_change until stop, feeding memory back."""
    out: list[tuple[datetime, Evaluation]] = []
    t: datetime | None = start
    while t is not None and t <= stop:
        ev = evaluate(world, t)
        out.append((t, ev))
        world = replace(world, memory=ev.memory)
        assert ev.next_change is None or ev.next_change > t
        t = ev.next_change
    return out


def values(ev: Evaluation) -> dict[str, Value | None]:
    """Winning value of every output."""
    return {o: ev.value(o) for o in ev.outputs}
