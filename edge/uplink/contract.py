"""The MQTT contract: every message as a msgspec Struct, one source for code, docs and schemas.

Outbound messages have two shapes. Producers build a *body* (`StateBody`, `EventBody`...);
the outbox adds the envelope (`stream`, `seq`, `msg_id`, `ts`) durably at enqueue time and
the session stamps `session` and `historical` at publish time. The *wire* types (`State`,
`Event`...) are body + envelope, tagged by `stream`; they are what the cloud receives and
what `edge/uplink/schemas/*.json` are generated from. A test keeps bodies and wire types in
step.

Inbound messages (`cmd/{name}`, `bookings`, `bookings/delta`) are plain structs; bookings
types live in `edge.bookings.model`.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, field

AwareDatetime = Annotated[datetime, Meta(tz=True)]
Scalar = bool | int | float | str | None
Quality = Literal["good", "bad", "uncertain", "stale"]
Ident = Annotated[str, Meta(min_length=1, max_length=128)]
PointRef = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]*\.[A-Za-z0-9_]+$")]

TOPIC_VERSION = "v1"
AlarmAction = Literal["raise", "ack", "return", "shelve", "clear"]
"""raise: active; ack: acknowledged; return: back to normal, not yet acknowledged;
shelve: hidden by an operator; clear: closed."""


class Priority(IntEnum):
    """Drain order of the outbox: lower drains first."""

    ALARM = 0
    CMD_RES = 1
    EVENT = 2
    ENERGY = 3
    STATE = 4


# Streams that go through the outbox, with their drain priority.
QUEUED_STREAMS: dict[str, Priority] = {
    "alarm": Priority.ALARM,
    "cmd_res": Priority.CMD_RES,
    "event": Priority.EVENT,
    "energy": Priority.ENERGY,
    "state": Priority.STATE,
    "summary": Priority.STATE,
}

RETAINED_STREAMS = frozenset({"summary"})
"""Queued streams the broker keeps the latest of (a late subscriber sees the present)."""


class Topics:
    """Topic names under `edge/v1/{site}/{gateway}/`."""

    def __init__(self, site: str, gateway: str) -> None:
        for name, value in (("site", site), ("gateway", gateway)):
            if not value or any(c in value for c in "/+#\x00"):
                raise ValueError(f"{name} id {value!r} cannot be used in an MQTT topic")
        self.root = f"edge/{TOPIC_VERSION}/{site}/{gateway}/"

    def up(self, stream: str) -> str:
        """Topic of an outbound stream (`status`, `birth`, `state`, ...)."""
        return self.root + stream

    def cmd(self, name: str) -> str:
        return f"{self.root}cmd/{name}"

    @property
    def cmd_filter(self) -> str:
        return f"{self.root}cmd/+"

    @property
    def bookings(self) -> str:
        return self.root + "bookings"

    @property
    def bookings_delta(self) -> str:
        return self.root + "bookings/delta"

    @property
    def everything(self) -> str:
        return self.root + "#"

    def relative(self, topic: str) -> str | None:
        """The part after the root, or None for a topic outside it."""
        return topic[len(self.root) :] if topic.startswith(self.root) else None


# ---------------------------------------------------------------- bodies (what producers build)


class PointValue(Struct, frozen=True, kw_only=True):
    """One point's value at `ts` (report by exception, or a heartbeat)."""

    point: PointRef
    value: Scalar
    quality: Quality = "good"
    unit: str | None = None
    ts: AwareDatetime | None = None
    """When the value was read, if different from the message `ts`."""


class StateBody(Struct, frozen=True, kw_only=True):
    points: list[PointValue]
    heartbeat: bool = False
    """True only in the periodic refresh (`[uplink] state_refresh_s`): every point's latest
    value, changed or not. False: every point in the message changed (value, quality or unit)
    since it was last sent."""


EventKind = Literal[
    "device_online", "device_offline", "access_decision", "operation", "emergency",
    "buffer_overflow", "bookings_rejected", "bookings_resync_needed",
]  # fmt: skip
"""Every kind of event the gateway sends (docs/mqtt.md "event" says what each carries)."""


class EventBody(Struct, frozen=True, kw_only=True):
    """Something that happened; `kind` names it (a closed set).

    Events whose kind starts with `access` are never evicted from the outbox.
    """

    kind: EventKind
    message: str = ""
    zone: str | None = None
    device: str | None = None
    booking_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class AlarmBody(Struct, frozen=True, kw_only=True):
    alarm_id: Ident
    """Stable key of the condition, `{class}:{source}`, e.g. `comm_lost:hvac-1`."""
    action: AlarmAction
    severity: Literal["critical", "major", "minor", "warning"] = "major"
    alarm_class: str = field(default="", name="class")
    """The detector's class (docs/alarms.md), e.g. `comm_lost`, `fire_alarm`."""
    text: str = ""
    device: str | None = None
    zone: str | None = None
    point: str | None = None
    by: str | None = None
    """Who acknowledged (for `ack`)."""
    occurrence: int = 1
    """How many times this alarm id has been raised (a new one after a clear)."""


EnergyKind = Literal["meter_interval", "zone_interval", "booking_total"]
"""`meter_interval`: one meter; `zone_interval`: a zone's own meters (sum, never mixed
with meter intervals); `booking_total`: one booking, from its pre-conditioning start."""
EstimateReason = Literal["gap", "reset", "rebased", "before_data"]


class EnergyBody(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: EnergyKind
    start: AwareDatetime
    end: AwareDatetime
    kwh: float
    estimated: bool = False
    """Some of it was estimated (see `reasons`, docs/energy.md)."""
    reasons: list[EstimateReason] = field(default_factory=list)
    meter: str | None = None
    """The meter (`meter_interval`)."""
    meters: dict[str, float] = field(default_factory=dict)
    """`booking_total`: each meter's share in kWh; the shares add up to `kwh`."""
    zone: str | None = None
    booking_id: str | None = None


class CmdResBody(Struct, frozen=True, kw_only=True):
    """The answer to a command: `code` is `ok` or the reason it was refused or failed."""

    cmd_id: str | None
    name: str
    ok: bool
    code: str
    message: str = ""
    result: dict[str, Any] | None = None


WireDatatype = Literal[
    "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64",
    "string", "status_table", "status_count",
]  # fmt: skip
"""How the device encodes a point (the profile's `datatype`; an enum is its raw type)."""
JsonType = Literal["boolean", "integer", "number", "string"]
"""The JSON type of the point's `value` (an enum point reads as its string label)."""


class BirthPoint(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One point as its profile describes it, with its current value."""

    name: str
    datatype: WireDatatype
    json_type: JsonType
    unit: str | None = None
    writable: bool = False
    """The gateway writes it: an output it drives (zone lights, a zone's HVAC enable and
    setpoint, gate relays, schedule, event rule, default and emergency outputs), booked or
    not. Exactly the points `cmd/set_point` accepts."""
    min: float | None = None
    max: float | None = None
    enum: dict[str, str] | None = None
    """Raw value (as text) -> label, for enum points."""
    roles: list[str] = field(default_factory=list)
    """What the point means (docs/drivers.md "Point roles"), e.g. `hvac.setpoint`."""
    zone: str | None = None
    """The zone the point serves (a light channel may serve another zone than its device)."""
    value: Scalar = None
    quality: Quality = "uncertain"


class BirthDevice(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    profile: str
    name: str = ""
    zone: str | None = None
    floor: int = 0
    location: dict[str, Any] = field(default_factory=dict)
    online: bool = False
    points: list[BirthPoint] = field(default_factory=list)


class BirthZone(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    kind: str
    name: str = ""
    parent: str | None = None


class BirthBody(Struct, frozen=True, kw_only=True):
    """The full inventory a birth provider returns; the session sends it as a `birth`
    head and `birth/part/{i}` parts (`edge.uplink.birth.split`), each under 128 KB."""

    zones: list[BirthZone]
    devices: list[BirthDevice]
    software: str = ""
    config_version: str = ""


class BirthHeadBody(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`birth`: the zones and how many devices, points and parts make up this birth."""

    birth_id: str
    """Shared by the head and its parts; new for every birth."""
    parts: Annotated[int, Meta(ge=0)]
    devices: Annotated[int, Meta(ge=0)]
    points: Annotated[int, Meta(ge=0)]
    zones: list[BirthZone]
    software: str = ""
    config_version: str = ""


class BirthPartBody(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`birth/part/{part}`: whole devices of the birth `birth_id`, part `part` of `parts`."""

    birth_id: str
    part: Annotated[int, Meta(ge=0)]
    parts: Annotated[int, Meta(ge=1)]
    config_version: str = ""
    devices: list[BirthDevice]


class StatusBody(Struct, frozen=True, kw_only=True):
    online: bool


Severity = Literal["critical", "major", "minor", "warning"]


class AlarmCounts(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Open alarms (active, acknowledged, returned or shelved) by severity."""

    critical: int = 0
    major: int = 0
    minor: int = 0
    warning: int = 0


class Figures(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The twin's headline figures for the venue or one zone (docs/mqtt.md "summary")."""

    lights_on: int
    """Light outputs (role `lighting.switch`) reading on."""
    lights_total: int
    devices_online: int
    devices_total: int
    gates_faulted: int
    """Gates whose controller is offline or has an open alarm."""
    gates_total: int
    cameras_online: int
    """Cameras (role `camera.online`) answering their probe."""
    cameras_total: int
    fire_devices_normal: int
    """Fire field devices reported normal by the panel gateways (roles `fire.devices_*`)."""
    fire_devices_alarm: int
    fire_devices_fault: int
    alarms_open: AlarmCounts
    energy_today_kwh: float
    """Since local midnight: the venue's top-level meters, or the zone's own meters."""


class SummaryBody(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    day: str
    """The venue's local date (YYYY-MM-DD) that `energy_today_kwh` counts."""
    venue: Figures
    zones: dict[str, Figures]
    """Every zone; a parent zone counts its children's devices too."""
    offline: list[str] = field(default_factory=list)
    """Every configured device not answering now, sorted (retained: a late consumer
    knows which without replaying `device_offline` events)."""


# ---------------------------------------------------------------- wire types (what the cloud sees)


class Envelope(Struct, frozen=True, kw_only=True, tag_field="stream"):
    """Fields on every outbound message; `stream` is the tag (equal to the topic's last part)."""

    session: Annotated[int, Meta(ge=0)]
    """Connection counter, persisted, bumped before each connect (Sparkplug's bdSeq)."""
    seq: Annotated[int, Meta(ge=0)]
    """Per-stream counter, persisted, contiguous, never wraps."""
    msg_id: str
    """Unique id; a resend after reconnect carries the same one."""
    ts: AwareDatetime
    """Source time: when the gateway produced the message."""
    historical: bool = False
    """True when the message was produced before the current session (replayed)."""


class Status(Envelope, frozen=True, kw_only=True, tag="status"):
    online: bool


class Birth(Envelope, frozen=True, kw_only=True, tag="birth", forbid_unknown_fields=True):
    birth_id: str
    parts: Annotated[int, Meta(ge=0)]
    devices: Annotated[int, Meta(ge=0)]
    points: Annotated[int, Meta(ge=0)]
    zones: list[BirthZone]
    software: str = ""
    config_version: str = ""


class BirthPart(Envelope, frozen=True, kw_only=True, tag="birth_part", forbid_unknown_fields=True):
    birth_id: str
    part: Annotated[int, Meta(ge=0)]
    parts: Annotated[int, Meta(ge=1)]
    config_version: str = ""
    devices: list[BirthDevice]


class State(Envelope, frozen=True, kw_only=True, tag="state"):
    points: list[PointValue]
    heartbeat: bool = False


class Event(Envelope, frozen=True, kw_only=True, tag="event"):
    kind: EventKind
    message: str = ""
    zone: str | None = None
    device: str | None = None
    booking_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Alarm(Envelope, frozen=True, kw_only=True, tag="alarm"):
    alarm_id: Ident
    action: AlarmAction
    severity: Literal["critical", "major", "minor", "warning"] = "major"
    alarm_class: str = field(default="", name="class")
    text: str = ""
    device: str | None = None
    zone: str | None = None
    point: str | None = None
    by: str | None = None
    occurrence: int = 1


class Energy(Envelope, frozen=True, kw_only=True, tag="energy", forbid_unknown_fields=True):
    kind: EnergyKind
    start: AwareDatetime
    end: AwareDatetime
    kwh: float
    estimated: bool = False
    reasons: list[EstimateReason] = field(default_factory=list)
    meter: str | None = None
    meters: dict[str, float] = field(default_factory=dict)
    zone: str | None = None
    booking_id: str | None = None


class Summary(Envelope, frozen=True, kw_only=True, tag="summary", forbid_unknown_fields=True):
    day: str
    venue: Figures
    zones: dict[str, Figures]
    offline: list[str] = field(default_factory=list)


class CmdRes(Envelope, frozen=True, kw_only=True, tag="cmd_res"):
    cmd_id: str | None
    name: str
    ok: bool
    code: str
    message: str = ""
    result: dict[str, Any] | None = None


Outbound = Status | Birth | BirthPart | State | Event | Alarm | Energy | Summary | CmdRes

# Body type -> wire type, for the consistency test and the docs.
BODY_OF: dict[type[Struct], type[Struct]] = {
    Status: StatusBody,
    Birth: BirthHeadBody,
    BirthPart: BirthPartBody,
    State: StateBody,
    Event: EventBody,
    Alarm: AlarmBody,
    Energy: EnergyBody,
    Summary: SummaryBody,
    CmdRes: CmdResBody,
}

QueuedBody = StateBody | EventBody | AlarmBody | EnergyBody | SummaryBody | CmdResBody

STREAM_OF_BODY: dict[type[Struct], str] = {
    StateBody: "state",
    EventBody: "event",
    AlarmBody: "alarm",
    EnergyBody: "energy",
    SummaryBody: "summary",
    CmdResBody: "cmd_res",
}


# ---------------------------------------------------------------- commands (down)


class Signature(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Ed25519 signature over the canonical bytes defined in docs/mqtt.md."""

    kid: Ident
    alg: Literal["ed25519"] = "ed25519"
    value: Annotated[str, Meta(max_length=200)]
    """Base64 (standard alphabet, padded) of the 64-byte signature."""


class Command(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fields every command carries."""

    cmd_id: Annotated[str, Meta(min_length=1, max_length=128)]
    expires_at: AwareDatetime
    issued_at: AwareDatetime | None = None
    sig: Signature | None = None


class SetPoint(Command, frozen=True, kw_only=True, forbid_unknown_fields=True):
    point: PointRef
    value: bool | int | float


class Scene(Command, frozen=True, kw_only=True, forbid_unknown_fields=True):
    zone: Ident
    scene: Ident


class OpenGate(Command, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gate: Ident
    hold_s: Annotated[float, Meta(ge=0.5, le=60)] | None = None
    """Seconds the gate stays released; default the gate's configured `pulse_s`."""
    reason: str = ""


class Rebirth(Command, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Reload(Command, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class AckAlarm(Command, frozen=True, kw_only=True, forbid_unknown_fields=True):
    alarm_id: Ident
    by: str = ""


COMMANDS: dict[str, type[Command]] = {
    "set_point": SetPoint,
    "scene": Scene,
    "open_gate": OpenGate,
    "rebirth": Rebirth,
    "reload": Reload,
    "ack_alarm": AckAlarm,
}
