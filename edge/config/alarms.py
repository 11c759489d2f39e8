"""`[alarms]` config table: thresholds and per-class overrides (all optional).

The lead embeds `AlarmsConfig` in `VenueConfig` as `alarms`. Defaults suit a sports
hall; each attribute says what it means.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct, field

Seconds = Annotated[float, Meta(ge=0, le=7 * 86400)]
SeverityName = Literal["critical", "major", "minor", "warning"]


class ClassOverride(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Change a built-in class: any field left out keeps the built-in value."""

    severity: SeverityName | None = None
    """The class's severity."""
    latching: bool | None = None
    """The alarm stays until acknowledged."""
    delay_on_s: Seconds | None = None
    """The condition must hold this long before the alarm raises."""
    delay_off_s: Seconds | None = None
    """The condition must be gone this long before the alarm clears."""
    enabled: bool = True
    """`false` turns the class off."""


class MaintenanceLimit(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Maintenance is due when an output's run hours or switch cycles reach these."""

    run_hours: Annotated[float, Meta(gt=0)] | None = None
    """Hours on before maintenance is due."""
    cycles: Annotated[int, Meta(gt=0)] | None = None
    """Switch cycles before maintenance is due."""


class AlarmsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    tick_s: Annotated[float, Meta(gt=0, le=600)] = 10.0
    """How often time-based detectors (HVAC, doors, lights left on, outbox, clock) look."""
    comm_lost_after_s: Seconds = 60.0
    """A device offline this long raises `comm_lost`."""
    lamp_delay_s: Seconds = 15.0
    """Commanded on but feedback/current off this long raises `lamp_failure`."""
    lamp_min_current_a: Annotated[float, Meta(ge=0)] = 0.05
    """Below this channel current a commanded-on lamp counts as dark."""
    hvac_ready_after_min: Annotated[float, Meta(ge=0, le=600)] = 15.0
    """Minutes after a booking start by which the room must be within `hvac_tolerance_k`."""
    hvac_tolerance_k: Annotated[float, Meta(gt=0, le=10)] = 1.0
    """How far from its setpoint a room may be and still count as ready."""
    door_open_max_s: Seconds = 120.0
    """A door contact open this long counts as held open (besides the controller's bit)."""
    lights_left_on_after_s: Seconds = 600.0
    """Energy drawn in a zone nobody wants lit for this long raises `lights_left_on`."""
    zone_power_floor_w: Annotated[float, Meta(ge=0)] = 200.0
    """Zone meter power above this counts as energy drawn (standby below it)."""
    zone_power_floor: dict[str, Annotated[float, Meta(ge=0)]] = field(default_factory=dict)
    """Per zone id: its own floor (a hall meter with a permanent base load)."""
    temp_min_c: float = 10.0
    """Below this a temperature sensor raises `temperature_range`."""
    temp_max_c: float = 32.0
    """Above this a temperature sensor raises `temperature_range`."""
    humidity_min_pct: float = 15.0
    """Below this a humidity sensor raises an alarm."""
    humidity_max_pct: float = 80.0
    """Above this a humidity sensor raises an alarm."""
    co2_max_ppm: float = 1500.0
    """Above this a CO2 sensor raises `co2_high`."""
    env_delay_s: Seconds = 300.0
    """Environment values out of range this long raise an alarm (and clear after 60 s)."""
    outbox_high_ratio: Annotated[float, Meta(gt=0, le=1)] = 0.8
    """Outbox depth, as a share of its bound, that raises `outbox_high`."""
    clock_unsynced_after_s: Seconds = 600.0
    """The clock unsynchronised this long raises `clock_unsynced`."""
    maintenance_default: dict[str, MaintenanceLimit] = field(
        default_factory=lambda: {
            "lighting_8ch": MaintenanceLimit(run_hours=20_000, cycles=100_000),
            "hvac_fancoil": MaintenanceLimit(run_hours=4_000, cycles=50_000),
        }
    )
    """Per profile: the limits for outputs of devices with that profile."""
    maintenance: dict[str, MaintenanceLimit] = field(default_factory=dict)
    """Per device id: overrides the profile default."""
    classes: dict[str, ClassOverride] = field(default_factory=dict)
    """Per class name (see docs/alarms.md): severity, latching, delays, enabled."""
    shelve_max_h: Annotated[float, Meta(gt=0, le=24 * 30)] = 72.0
    """Longest a shelve may last: nothing is hidden forever by accident."""
    retention_days: Annotated[float, Meta(gt=0, le=3650)] = 90.0
    """Closed alarms are kept this long in the database."""
