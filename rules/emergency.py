"""Life safety: the precomputed emergency table and the alarm latch.

`emergency_outputs` is computed once when the config loads; the edge
emergency path writes that table directly when the fire input changes,
without evaluating any rule, touching the database or the uplink. The same
table is the life-safety level of `evaluate`, so the reconciler never fights
the emergency path.

The latch: an alarm sets it; it holds until the panel has cleared AND a reset
was issued after the clearing (a reset during the alarm is ignored).
"""

from __future__ import annotations

from datetime import datetime

from rules.model import EmergencyLatch, EmergencyPolicy, PointValue, Value, ZoneSpec


def emergency_outputs(policy: EmergencyPolicy, zones: tuple[ZoneSpec, ...]) -> dict[str, Value]:
    """output -> life-safety value: egress gates open, lights full, air per device policy."""
    table: dict[str, Value] = {}
    if policy.hvac_enable is not None:
        for z in zones:
            for h in z.hvac:
                if h.enable is not None:
                    table[h.enable] = policy.hvac_enable
    table.update(policy.air)
    if policy.lights_full:
        for z in zones:
            for light in z.lights:
                table[light.output] = light.on if light.full is None else light.full
    for g in policy.egress_gates:
        table[g.output] = g.open
    return table


def alarm_present(policy: EmergencyPolicy, inputs: dict[str, PointValue]) -> bool:
    """Any alarm point reads its active value with good quality."""
    for a in policy.alarms:
        pv = inputs.get(a.point)
        if pv is not None and pv.quality == "good" and pv.value == a.active:
            return True
    return False


def latch(
    prev: EmergencyLatch, alarm: bool, reset_at: datetime | None, t: datetime
) -> EmergencyLatch:
    """The latch at t: set by an alarm, released by a reset issued after the panel cleared."""
    if alarm:
        return EmergencyLatch(since=prev.since or t)
    if prev.since is None:
        return prev
    cleared_at = prev.cleared_at or t
    if reset_at is not None and cleared_at <= reset_at <= t:
        return EmergencyLatch()
    return EmergencyLatch(since=prev.since, cleared_at=cleared_at)
