"""Point roles: what a point *means*, so the daemon finds points by meaning, never by name.

A profile tags its points with roles (`roles = ["hvac.setpoint"]`); zones, energy, gates
and alarms then ask a profile for "the point with role hvac.setpoint" instead of
knowing that a fan-coil calls it `setpoint`. The vocabulary is a small closed set,
modelled on Project Haystack tag sets and Brick point classes (docs/drivers.md, "Point
roles"): an unknown role is an error naming the known ones, and each role says what
kind of value it carries and whether edged writes it, so a profile that tags a
read-only bit as `hvac.setpoint` is refused when it is loaded, not at 19:00 on a
booked evening.

This module knows nothing of Modbus: a point is described to it by `PointFacts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ValueKind(StrEnum):
    """The shape of value a role carries."""

    BOOL = "bool"
    """true/false (coil, discrete input, a bit of a register)."""
    NUMBER = "number"
    """An integer or float measurement/setting (no enum)."""
    ENUM = "enum"
    """An integer register with an `enum` map: values are labels."""
    FAULT = "fault"
    """A fault bit (bool) or a fault code (integer, 0 = no fault, no enum)."""
    STATUS_TABLE = "status_table"
    """A `status_table` point: one character per field device (see drivers.modbus.status)."""
    COUNT = "count"
    """A `status_count` point derived from a status table."""


@dataclass(frozen=True, slots=True)
class Role:
    """One entry of the vocabulary."""

    name: str
    doc: str
    value: ValueKind
    command: bool = False
    """edged writes it: the point must be writable."""
    unit: str = ""
    """The expected engineering unit, for people (not enforced: devices say "C" or "degC")."""
    tags: str = ""
    """An informal pointer to the nearest Project Haystack tags / Brick class (a guide for
    readers who know them, not a mapping)."""
    count_state: str = ""
    """For COUNT roles: the entry state counted (`normal`, `alarm`, `fault`, `disabled`)."""


_B, _N, _E, _F = ValueKind.BOOL, ValueKind.NUMBER, ValueKind.ENUM, ValueKind.FAULT

ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        # Lighting: one circuit / channel per group (`group = "ch3"`).
        Role("lighting.switch", "switches a lighting circuit on/off", _B, True, "",
             "light cmd / Brick On_Off_Command"),
        Role("lighting.level", "dim level of a circuit", _N, True, "%",
             "light dim cmd / Brick Luminance_Command"),
        Role("lighting.feedback", "the circuit's lamps are lit (ballast/contactor feedback)",
             _B, False, "", "light sensor / Brick On_Off_Status"),
        Role("lighting.current", "the circuit's current", _N, False, "A",
             "elec current sensor / Brick Current_Sensor"),
        Role("lighting.lamp_failure", "the controller itself reports a failed lamp", _B,
             False, "", "light fault / Brick Fault_Status"),
        # HVAC: a fan-coil, air handler or split unit serving a zone.
        Role("hvac.enable", "runs or stops the unit", _B, True, "",
             "equip enable cmd / Brick Enable_Command"),
        Role("hvac.mode", "operating mode (auto/heat/cool/fan...)", _E, True, "",
             "hvac mode cmd / Brick Mode_Command"),
        Role("hvac.setpoint", "the zone air temperature the unit aims at", _N, True, "C",
             "zone air temp sp / Brick Zone_Air_Temperature_Setpoint"),
        Role("hvac.fan_speed", "fan speed (auto/low/medium/high...)", _E, True, "",
             "fan speed cmd / Brick Fan_Speed_Command"),
        Role("hvac.room_temp", "the unit's own room/return air temperature", _N, False, "C",
             "zone air temp sensor / Brick Zone_Air_Temperature_Sensor"),
        Role("hvac.fault", "fault bit, or fault code with 0 = no fault", _F, False, "",
             "equip fault / Brick Fault_Status"),
        Role("hvac.run_hours", "accumulated running time", _N, False, "h",
             "equip run hours"),
        # Room environment sensors.
        Role("env.temperature", "room air temperature", _N, False, "C",
             "zone air temp sensor / Brick Air_Temperature_Sensor"),
        Role("env.humidity", "room relative humidity", _N, False, "%RH",
             "zone air humidity sensor / Brick Relative_Humidity_Sensor"),
        Role("env.co2", "room CO2 concentration", _N, False, "ppm",
             "zone air co2 sensor / Brick CO2_Sensor"),
        # Energy meters.
        Role("meter.energy_import", "total imported energy (a counter that may roll over)",
             _N, False, "kWh", "elec energy import / Brick Energy_Sensor"),
        Role("meter.power", "active power", _N, False, "W",
             "elec power sensor / Brick Active_Power_Sensor"),
        Role("meter.voltage", "supply voltage", _N, False, "V",
             "elec volt sensor / Brick Voltage_Sensor"),
        # Gates and doors.
        Role("gate.relay", "unlocks a door / opens a barrier while on (or for a pulse)", _B,
             True, "", "door unlock cmd"),
        Role("gate.pulse_length", "how long the controller holds the relay after an unlock",
             _N, True, "s", "door unlock duration sp"),
        Role("door.contact", "the door/barrier is open (true = open)", _B, False, "",
             "door open sensor"),
        Role("door.forced", "the door was opened without an unlock", _B, False, "",
             "door forced alarm"),
        Role("door.held_open", "the door stayed open after the unlock ended", _B, False, "",
             "door held alarm"),
        # Fire alarm system (read only: the panel keeps its own safety logic).
        Role("fire.alarm", "the panel is in fire alarm (drives the life-safety linkage)", _B,
             False, "", "fire alarm"),
        Role("fire.fault", "the panel reports a fault", _B, False, "",
             "fire fault / Brick Fault_Status"),
        Role("fire.silenced", "the panel's sounders are silenced", _B, False, "",
             "fire silenced"),
        Role("fire.loop_fault", "a detection loop is in fault (one point per loop group)", _B,
             False, "", "fire loop fault"),
        Role("fire.device_status", "the status of every field device of the panel",
             ValueKind.STATUS_TABLE, False, "", "fire device status table"),
        Role("fire.devices_normal", "installed field devices in normal state",
             ValueKind.COUNT, False, "", "", "normal"),
        Role("fire.devices_alarm", "field devices in alarm", ValueKind.COUNT, False, "", "",
             "alarm"),
        Role("fire.devices_fault", "field devices in fault", ValueKind.COUNT, False, "", "",
             "fault"),
        Role("fire.devices_disabled", "field devices disabled (isolated) at the panel",
             ValueKind.COUNT, False, "", "", "disabled"),
        # Network devices watched by drivers.netprobe (their `online` point).
        Role("camera.online", "a surveillance camera answers its probe", _B, False, "",
             "camera"),
        Role("nvr.online", "a network video recorder answers its probe", _B, False, "",
             "nvr"),
        Role("terminal.online", "a face/QR/card terminal answers its probe", _B, False, "",
             "access terminal"),
        Role("network.online", "another network device answers its probe", _B, False, "",
             "network device"),
    )
}  # fmt: skip

NUMERIC_DATATYPES = frozenset(
    {"int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}
)
INTEGER_DATATYPES = NUMERIC_DATATYPES - {"float32", "float64"}


@dataclass(frozen=True, slots=True)
class PointFacts:
    """What the vocabulary needs to know about a point to check a role on it."""

    datatype: str
    writable: bool
    enum: bool = False
    count_state: str = ""


class UnknownRole(ValueError):
    """A role that is not in the vocabulary; the message names the known ones."""

    def __init__(self, role: str) -> None:
        import difflib  # only for a mistake: kept out of the running daemon

        close = difflib.get_close_matches(role, ROLES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"unknown role {role!r}{hint}; known roles: {', '.join(sorted(ROLES))}")
        self.role = role


def get_role(name: str) -> Role:
    """The role called `name`; UnknownRole (a ValueError) names the known ones."""
    role = ROLES.get(name)
    if role is None:
        raise UnknownRole(name)
    return role


def role_problem(name: str, point: PointFacts) -> str | None:
    """Why role `name` cannot tag a point like `point`, or None when it fits.

    Raises UnknownRole for a role outside the vocabulary."""
    role = get_role(name)
    if role.command and not point.writable:
        return f"role {name!r} is written by edged: the point must be writable"
    dt = point.datatype
    match role.value:
        case ValueKind.BOOL:
            ok, want = dt == "bool", "a bool (coil, discrete input or register bit)"
        case ValueKind.NUMBER:
            ok, want = dt in NUMERIC_DATATYPES and not point.enum, "a number without enum"
        case ValueKind.ENUM:
            ok, want = dt in INTEGER_DATATYPES and point.enum, "an integer with an enum"
        case ValueKind.FAULT:
            fault_code = dt in INTEGER_DATATYPES and not point.enum
            ok, want = dt == "bool" or fault_code, "a bool or an integer fault code (no enum)"
        case ValueKind.STATUS_TABLE:
            ok, want = dt == "status_table", "a status_table point"
        case ValueKind.COUNT:
            ok = dt == "status_count" and point.count_state == role.count_state
            want = f"a status_count point counting {role.count_state!r}"
    if not ok:
        return f"role {name!r} needs {want}, not a {dt} point"
    return None


def describe() -> str:
    """The vocabulary as a text table (for `edgectl` and the docs)."""
    lines = []
    for r in ROLES.values():
        rw = "write" if r.command else "read"
        lines.append(f"{r.name:<24} {r.value.value:<13} {rw:<6} {r.unit:<5} {r.doc}")
    return "\n".join(lines)
