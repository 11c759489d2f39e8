"""The built-in alarm classes and how `[alarms.classes]` overrides them."""

from __future__ import annotations

import msgspec

from edge.alarms.config import AlarmsConfig
from edge.alarms.model import AlarmClass, Severity


def builtin_classes(cfg: AlarmsConfig) -> dict[str, AlarmClass]:
    s = Severity
    items = [
        AlarmClass(name="comm_lost", severity=s.MAJOR, delay_on_s=cfg.comm_lost_after_s,
                   description="device does not answer"),
        AlarmClass(name="lamp_failure", severity=s.MINOR, latching=True,
                   delay_on_s=cfg.lamp_delay_s, delay_off_s=5.0,
                   description="channel commanded on, lamp feedback or current says off"),
        AlarmClass(name="hvac_not_ready", severity=s.MINOR, delay_off_s=60.0,
                   description="room not within tolerance of target after a booking start"),
        AlarmClass(name="door_forced", severity=s.CRITICAL, latching=True,
                   description="door opened without a release"),
        AlarmClass(name="door_held_open", severity=s.MAJOR,
                   description="door held open too long"),
        AlarmClass(name="lights_left_on", severity=s.WARNING,
                   delay_on_s=cfg.lights_left_on_after_s, delay_off_s=30.0,
                   description="energy drawn in a zone with no booking and no schedule"),
        AlarmClass(name="temperature_range", severity=s.MINOR, delay_on_s=cfg.env_delay_s,
                   delay_off_s=60.0, description="temperature out of range"),
        AlarmClass(name="humidity_range", severity=s.MINOR, delay_on_s=cfg.env_delay_s,
                   delay_off_s=60.0, description="humidity out of range"),
        AlarmClass(name="co2_high", severity=s.MINOR, delay_on_s=cfg.env_delay_s,
                   delay_off_s=60.0, description="CO2 above limit"),
        AlarmClass(name="hvac_fault", severity=s.MAJOR, delay_off_s=30.0,
                   description="HVAC unit reports a fault"),
        AlarmClass(name="fire_alarm", severity=s.CRITICAL, latching=True,
                   description="fire panel in alarm"),
        AlarmClass(name="fire_fault", severity=s.CRITICAL, latching=True,
                   description="fire panel reports a fault"),
        AlarmClass(name="fire_loop_fault", severity=s.CRITICAL, latching=True,
                   description="a fire detection loop is in fault"),
        AlarmClass(name="fire_device_alarm", severity=s.CRITICAL, latching=True,
                   description="a fire detector or call point in alarm"),
        AlarmClass(name="fire_device_fault", severity=s.CRITICAL, latching=True,
                   description="a fire detector or call point in fault"),
        AlarmClass(name="maintenance_due", severity=s.WARNING,
                   description="run hours or switch cycles over the limit"),
        AlarmClass(name="outbox_high", severity=s.MAJOR, delay_off_s=60.0,
                   description="uplink outbox above its high-water mark"),
        AlarmClass(name="storage_error", severity=s.CRITICAL, latching=True,
                   description="database write failed or file was recovered"),
        AlarmClass(name="uplink_auth", severity=s.MAJOR,
                   description="the broker refuses the gateway's credentials"),
        AlarmClass(name="bookings_refused", severity=s.WARNING, latching=True,
                   description="a booking snapshot or delta was refused: bad signature "
                   "or version out of bounds"),
        AlarmClass(name="inbound_flood", severity=s.MAJOR, delay_off_s=60.0,
                   description="inbound MQTT messages arrive faster than they are handled: "
                   "the excess is dropped"),
        AlarmClass(name="unsigned_accepted", severity=s.WARNING,
                   description="the config accepts unsigned commands or bookings from a "
                   "broker off this machine (uplink.allow_unsigned)"),
        AlarmClass(name="clock_unsynced", severity=s.MAJOR,
                   delay_on_s=cfg.clock_unsynced_after_s,
                   description="system clock not synchronised (NTP)"),
    ]  # fmt: skip
    out: dict[str, AlarmClass] = {}
    for c in items:
        o = cfg.classes.get(c.name)
        if o is not None:
            if not o.enabled:
                continue
            patch = {
                k: getattr(o, k)
                for k in ("latching", "delay_on_s", "delay_off_s")
                if getattr(o, k) is not None
            }
            if o.severity is not None:
                patch["severity"] = Severity(o.severity)
            c = msgspec.structs.replace(c, **patch)
        out[c.name] = c
    return out


def unknown_overrides(cfg: AlarmsConfig) -> list[str]:
    """Class names in `[alarms.classes]` that are not built in (a config mistake)."""
    known = set(builtin_classes(AlarmsConfig()))
    return sorted(set(cfg.classes) - known)
