"""Physics parameters of the simulated venue, decoded once into frozen structs.

Defaults describe a plausible venue; an optional TOML file (`--params FILE`, see
`examples/venue.sim.toml`) overrides them per zone, per device or per zone kind.
The venue config itself stays exactly what `edged` reads: nothing simulator-only goes in it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta, Struct, field

from .errors import SimConfigError

Positive = Annotated[float, Meta(gt=0)]
NonNegative = Annotated[float, Meta(ge=0)]
Hour = Annotated[float, Meta(ge=0, lt=24)]

_S = {"frozen": True, "forbid_unknown_fields": True, "kw_only": True}


class Weather(Struct, **_S):
    """Outdoor temperature: a cosine day curve between a minimum and a maximum (local time)."""

    min_c: float = 18.0
    """Coolest temperature of the day."""
    min_hour: Hour = 5.0
    """Local hour of the minimum (05:00)."""
    max_c: float = 31.0
    """Warmest temperature of the day."""
    max_hour: Hour = 15.0
    """Local hour of the maximum (15:00)."""
    outdoor_co2_ppm: Positive = 420.0
    """CO2 of the outdoor air that ventilation brings in."""

    def __post_init__(self) -> None:
        if self.min_hour == self.max_hour:
            raise ValueError("min_hour and max_hour must differ")
        if self.min_c > self.max_c:
            raise ValueError("min_c must be <= max_c")


class Lights(Struct, **_S):
    """A lighting channel: power at full level, proportional to the dim level when lit."""

    channel_w: NonNegative = 400.0
    """Power of one channel at 100 % (a badminton court's LED floodlights: about 400 W)."""
    min_level_pct: Annotated[float, Meta(ge=0, le=100)] = 10.0
    """Drivers draw at least this share of full power whenever the channel is lit."""
    volts: Positive = 230.0
    """Supply voltage, for the channel current (current = power / volts)."""


class Hvac(Struct, **_S):
    """An HVAC unit (fan-coil or air handler) acting on its zone's air.

    The drive on the room temperature is (setpoint - T) / time_constant, capped at
    +-max_rate; several units in one zone average their drives.
    """

    time_constant_min: Positive = 15.0
    """First-order time constant of the approach to the setpoint while running."""
    max_rate_k_per_h: Positive = 6.0
    """Capacity limit: the fastest the unit can move the room temperature."""
    rated_w: NonNegative = 1500.0
    """Electrical power at full load."""
    fan_w: NonNegative = 120.0
    """Power when running with nothing to do (fan only)."""
    watchdog_timeout_s: NonNegative = 120.0
    """After the first watchdog write, no write for this long makes the unit fall back to its
    local comfort setpoint (21.0 C, fan auto), as the profile describes. 0 disables."""


class Zone(Struct, **_S):
    """The air of a zone that has its own HVAC (or is top-level): temperature and CO2."""

    volume_m3: Positive = 1000.0
    """Air volume, for CO2 build-up."""
    envelope_time_constant_h: Positive = 8.0
    """How fast the room drifts toward the outdoor temperature with HVAC off."""
    initial_offset_c: float = 0.5
    """Room temperature at start = outdoor temperature at start + this."""
    initial_c: float | None = None
    """Explicit room temperature at start (overrides initial_offset_c)."""
    people_when_occupied: NonNegative = 4.0
    """Occupants while the zone is occupied (its lights lit or a booking running)."""
    ach_hvac_on: NonNegative = 4.0
    """Air changes per hour with the zone's HVAC running."""
    ach_hvac_off: NonNegative = 0.5
    """Air changes per hour by infiltration alone."""


class Meter(Struct, **_S):
    """What a meter measures and where its counter starts."""

    loads: list[str] | None = None
    """Device ids it meters; default: every light/HVAC device in its zone and the zones
    inside it (a meter without a zone meters the whole site)."""
    preset_kwh: NonNegative = 0.0
    """Counter value at start (e.g. just below the rollover of its register)."""
    volts: Positive = 230.0


class Gate(Struct, **_S):
    held_after_s: NonNegative = 10.0
    """The controller raises held-open when the door is still open this long after the pulse."""


class Rtu(Struct, **_S):
    wire_time: bool = True
    """Delay each RTU reply by its time on the wire at the bus's baud rate."""
    turnaround_s: NonNegative = 0.005
    """Slave turnaround before it answers."""


# People per zone kind while occupied, and air volumes: plausible defaults for the demo venue.
KIND_DEFAULTS: dict[str, dict[str, float]] = {
    "court": {"people_when_occupied": 4, "volume_m3": 2500},
    "hall": {"people_when_occupied": 20, "volume_m3": 12000},
    "room": {"people_when_occupied": 15, "volume_m3": 300},
    "reading_room": {"people_when_occupied": 40, "volume_m3": 600},
    "exhibition": {"people_when_occupied": 60, "volume_m3": 2000},
    "training": {"people_when_occupied": 25, "volume_m3": 400},
    "lobby": {"people_when_occupied": 10, "volume_m3": 1500},
    "gate": {"people_when_occupied": 0, "volume_m3": 200},
    "car_park": {"people_when_occupied": 0, "volume_m3": 5000},
}


class SimParams(Struct, **_S):
    """Everything the physics needs beyond the venue config."""

    tick_s: Annotated[float, Meta(gt=0, le=60)] = 1.0
    """Simulated seconds between physics steps (timers such as gate pulses fire exactly)."""
    weather: Weather = field(default_factory=Weather)
    lights: Lights = field(default_factory=Lights)
    hvac: Hvac = field(default_factory=Hvac)
    gate: Gate = field(default_factory=Gate)
    rtu: Rtu = field(default_factory=Rtu)
    zone_kinds: dict[str, Zone] = field(default_factory=dict)
    """Zone parameters per zone kind (`court`, `hall`, ...), over the built-in kind defaults."""
    zones: dict[str, Zone] = field(default_factory=dict)
    """Zone parameters per zone id (win over `zone_kinds`)."""
    light_devices: dict[str, Lights] = field(default_factory=dict)
    """Per lighting device id."""
    hvac_devices: dict[str, Hvac] = field(default_factory=dict)
    """Per HVAC device id (e.g. a hall's air handler is much bigger than a fan-coil)."""
    meters: dict[str, Meter] = field(default_factory=dict)
    """Per meter device id."""

    def zone(self, zone_id: str, kind: str) -> Zone:
        if zone_id in self.zones:
            return self.zones[zone_id]
        if kind in self.zone_kinds:
            return self.zone_kinds[kind]
        return msgspec.convert(KIND_DEFAULTS.get(kind, {}), Zone)

    def light(self, device_id: str) -> Lights:
        return self.light_devices.get(device_id, self.lights)

    def hvac_of(self, device_id: str) -> Hvac:
        return self.hvac_devices.get(device_id, self.hvac)

    def meter(self, device_id: str) -> Meter:
        return self.meters.get(device_id, Meter())


def parse_params(text: str, where: str = "<params>") -> SimParams:
    """Decode simulation parameters from TOML text; SimConfigError names the bad spot."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SimConfigError(where, f"not valid TOML: {exc}") from exc
    try:
        return msgspec.convert(data, SimParams, strict=False)
    except msgspec.ValidationError as exc:
        raise SimConfigError(where, str(exc)) from exc


def load_params(path: str | Path | None) -> SimParams:
    """Parameters from a file, or the defaults when `path` is None."""
    if path is None:
        return SimParams()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimConfigError(str(p), f"cannot read: {exc.strerror}") from exc
    return parse_params(text, str(p))
