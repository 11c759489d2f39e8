"""Frozen input types of the desired-state engine.

Everything the engine knows is in a `World`: the static `Site` (zones,
templates, schedules, event rules, emergency policy, defaults, decoded once
from the venue config) plus the dynamic facts (bookings, overrides, input
values, granted entries, learned warm-up rates and the engine's own memory).
`rules.engine.evaluate(world, t)` is a pure function of (world, t).

Output identity is the string "device.point". Values are bool | int | float.
All datetimes are timezone-aware; schedule times are local to `Site.timezone`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

import msgspec

from rules.levels import Level
from rules.optimal_start import LearnedRates, OptimalStartConfig

Value = bool | int | float
Quality = Literal["good", "stale", "bad"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZoneKind = str
"""court | hall | room | reading_room | exhibition | lobby | gate | car_park | any venue kind."""


class Frozen(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base: immutable, keyword-only, unknown config keys are errors."""


# --- bookings -----------------------------------------------------------------


AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Booking(Frozen, frozen=True):
    """One booking as received from the booking system (latest version wins).

    The daemon's one booking type: decoded once from the cloud's message (the field
    constraints are the wire contract), stored, and read as is by rules, access and
    energy.
    """

    booking_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    start: AwareDatetime
    end: AwareDatetime
    member: Annotated[str, msgspec.Meta(max_length=128)] = ""
    status: Literal["confirmed", "cancelled"] = "confirmed"
    version: Annotated[int, msgspec.Meta(ge=0)] = 1
    """Sync version at which this booking last changed."""
    plate: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class Entry(Frozen, frozen=True):
    """A granted entry (gate, turnstile, QR) attributed to a booking."""

    booking_id: str
    at: datetime


# --- zones and templates ------------------------------------------------------


class LightSpec(Frozen, frozen=True):
    """A light output of a zone and the values it takes."""

    output: str
    on: Value = True
    off: Value = False
    dim: Value | None = None
    """Value while a no-show releases the booking; None = relinquish (off)."""
    full: Value | None = None
    """Life-safety value ("100 %"); None = `on`."""


class HvacSpec(Frozen, frozen=True):
    """HVAC outputs of a zone: an on/off point and/or a setpoint point."""

    enable: str | None = None
    setpoint: str | None = None
    on: Value = True
    off: Value = False


class Template(Frozen, frozen=True):
    """How a booking in a zone of some kind drives its outputs."""

    lights_pre_start: timedelta = timedelta(minutes=5)
    lights_post_end: timedelta = timedelta(minutes=10)
    hvac_post_end: timedelta = timedelta(0)
    target_temp_c: float = 21.0
    optimal_start: bool = True
    """Learn the HVAC lead time; off = always `hvac_fixed_lead`."""
    hvac_fixed_lead: timedelta = timedelta(minutes=30)
    """Lead used when optimal start is off or the zone has no temperature reading."""
    no_show_release: timedelta | None = None
    """Release lights/HVAC if no granted entry within this time after start; None = off."""
    follow_children: bool = True
    """A zone's outputs follow the bookings of its child zones too (shared equipment)."""


class TemplatePatch(Frozen, frozen=True):
    """Per-zone overrides of its kind's template (None = keep the template's value)."""

    lights_pre_start: timedelta | None = None
    lights_post_end: timedelta | None = None
    hvac_post_end: timedelta | None = None
    target_temp_c: float | None = None
    optimal_start: bool | None = None
    hvac_fixed_lead: timedelta | None = None
    no_show_release: timedelta | None = None
    follow_children: bool | None = None


class ZoneSpec(Frozen, frozen=True):
    """A bookable or technical zone."""

    id: str
    kind: ZoneKind
    parent: str | None = None
    target_temp_c: float | None = None
    """None = the template's target."""
    setback_temp_c: float | None = None
    """Setpoint during a no-show release; None = relinquish the setpoint."""
    temp_point: str | None = None
    """Input point with the zone temperature (used by optimal start)."""
    lights: tuple[LightSpec, ...] = ()
    hvac: tuple[HvacSpec, ...] = ()
    template: TemplatePatch = TemplatePatch()


# --- schedules ----------------------------------------------------------------


class Span(Frozen, frozen=True):
    """Local opening hours of one day; end <= start means it runs past midnight."""

    start: time
    end: time


class ScheduleException(Frozen, frozen=True):
    """Dates whose weekly hours are replaced: holidays, closures, special hours."""

    first: date
    last: date | None = None
    """Inclusive; None = just `first`."""
    hours: tuple[Span, ...] = ()
    """Hours on those dates; empty = closed all day."""
    note: str = ""


class ScheduleOutput(Frozen, frozen=True):
    """What a schedule writes to one output when open (and optionally when closed)."""

    output: str
    value: Value = True
    closed_value: Value | None = None
    """None = relinquish outside opening hours."""


class Schedule(Frozen, frozen=True):
    """Weekly opening hours in the venue timezone, driving outputs at the schedule level."""

    id: str
    outputs: tuple[ScheduleOutput, ...]
    weekly: dict[Weekday, tuple[Span, ...]] = {}
    exceptions: tuple[ScheduleException, ...] = ()


# --- event rules --------------------------------------------------------------

Op = Literal[">", ">=", "<", "<=", "==", "!="]


class Comparison(Frozen, frozen=True):
    """`point op value`, e.g. hall_iaq.co2 > 1200."""

    point: str
    op: Op
    value: float


class Condition(Frozen, frozen=True):
    """All comparisons hold (an unreadable or bad-quality point makes it false)."""

    all: tuple[Comparison, ...]


class EventAction(Frozen, frozen=True):
    """output := value at a priority level while the rule is active."""

    output: str
    value: Value
    level: Level = Level.EVENT


class EventRule(Frozen, frozen=True):
    """Trigger held for `hold` activates; `end` held for `end_hold` deactivates."""

    id: str
    trigger: Condition
    actions: tuple[EventAction, ...]
    hold: timedelta = timedelta(0)
    end: Condition | None = None
    """None = the trigger no longer holds."""
    end_hold: timedelta = timedelta(0)


# --- overrides ----------------------------------------------------------------


class Override(Frozen, frozen=True):
    """A manual value with a mandatory expiry; the latest issued wins."""

    id: str
    output: str
    value: Value
    issued_at: datetime
    expires_at: datetime
    source: Literal["technician", "cloud"]
    by: str
    """Technician user name, or the cloud command id."""
    reason: str = ""


# --- emergency ----------------------------------------------------------------


class AlarmInput(Frozen, frozen=True):
    """A fire-panel alarm point and the value that means "alarm"."""

    point: str
    active: Value = True


class GateSpec(Frozen, frozen=True):
    """A gate on an egress path and its open value."""

    output: str
    open: Value = True


class EmergencyPolicy(Frozen, frozen=True):
    """Life-safety values applied while the emergency latch is set."""

    alarms: tuple[AlarmInput, ...] = ()
    egress_gates: tuple[GateSpec, ...] = ()
    lights_full: bool = True
    """Every zone light to its `full` value."""
    hvac_enable: Value | None = None
    """Value for every zone HVAC enable point (e.g. False: smoke control); None = leave."""
    air: dict[str, Value] = {}
    """Per-device policy, wins over `hvac_enable` (e.g. smoke extract fan := True)."""


# --- inputs and memory ----------------------------------------------------------


class PointValue(Frozen, frozen=True):
    """A current input value as polled, with its quality."""

    value: Value
    quality: Quality = "good"


class EventTrack(Frozen, frozen=True):
    """Where an event rule is in its hold/active/end cycle."""

    trigger_since: datetime | None = None
    active_since: datetime | None = None
    end_since: datetime | None = None


class EmergencyLatch(Frozen, frozen=True):
    """Set by an alarm; cleared only by a reset after the panel has cleared."""

    since: datetime | None = None
    cleared_at: datetime | None = None


class Memory(Frozen, frozen=True):
    """State the engine needs across evaluations: returned by evaluate, fed back by the caller."""

    events: dict[str, EventTrack] = {}
    prestarts: dict[str, datetime] = {}
    """"zone@window-start-iso" -> instant the optimal-start pre-heat began (no flapping)."""
    emergency: EmergencyLatch = EmergencyLatch()


# --- the whole world ------------------------------------------------------------


class Site(Frozen, frozen=True):
    """Static configuration of one venue's automation."""

    timezone: str
    """IANA name, e.g. "Asia/Shanghai"; schedules are local time in it."""
    zones: tuple[ZoneSpec, ...] = ()
    templates: dict[str, Template] = {}
    """Per zone kind; missing kinds use rules.templates.DEFAULT_TEMPLATES."""
    schedules: tuple[Schedule, ...] = ()
    event_rules: tuple[EventRule, ...] = ()
    emergency: EmergencyPolicy = EmergencyPolicy()
    defaults: dict[str, Value] = {}
    """Relinquish-default per output; overrides the one derived from zone specs."""
    optimal_start: OptimalStartConfig = OptimalStartConfig()
    max_booking: timedelta = timedelta(hours=24)


class World(Frozen, frozen=True):
    """Everything known at an instant; evaluate(world, t) depends on nothing else."""

    site: Site
    bookings: tuple[Booking, ...] = ()
    overrides: tuple[Override, ...] = ()
    inputs: dict[str, PointValue] = {}
    entries: tuple[Entry, ...] = ()
    learned: LearnedRates = LearnedRates()
    memory: Memory = Memory()
    emergency_reset_at: datetime | None = None
    """Last technician/cloud emergency reset; only counts after the panel cleared."""
