"""Validation: a list of clear problems (path, message, fix hint); never raises.

- `validate_site`: config at load (zones, templates, schedules, event rules,
  emergency policy, optionally against the set of known device points).
- `validate_booking` / `validate_bookings`: bookings as they arrive; refuse
  with an event, never half-apply.
- `validate_override`: a manual or cloud override before it is accepted.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from rules.levels import Level
from rules.model import Booking, Comparison, Condition, EventRule, Override, Site

Severity = Literal["error", "warning"]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong, where it is, and how to fix it."""

    path: str
    message: str
    hint: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message} (fix: {self.hint})"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems that must refuse the input."""
    return [p for p in problems if p.severity == "error"]


def _guard(fn_name: str, problems: list[Problem], exc: Exception) -> list[Problem]:
    # Validation must never crash on a malformed struct built by hand.
    return [
        *problems,
        Problem(
            path=fn_name,
            message=f"malformed input ({type(exc).__name__}: {exc})",
            hint="build the structs with msgspec.convert or rules.config.load_site",
        ),
    ]


# --- site ---------------------------------------------------------------------

_MAX_TEMP_C, _MIN_TEMP_C = 35.0, 5.0
_RULE_LEVELS = (Level.MANUAL, Level.BOOKING, Level.SCHEDULE, Level.EVENT)


def validate_site(site: Site, known_points: Collection[str] | None = None) -> list[Problem]:
    """Every problem of a site config; `known_points` ("device.point") enables point checks."""
    problems: list[Problem] = []
    try:
        _timezone(site, problems)
        _zones(site, problems)
        _templates(site, problems)
        _schedules(site, problems)
        _event_rules(site, problems)
        _emergency(site, problems)
        if known_points is not None:
            _points(site, set(known_points), problems)
    except Exception as exc:  # the contract is "never raises"
        return _guard("site", problems, exc)
    return problems


def _timezone(site: Site, problems: list[Problem]) -> None:
    try:
        ZoneInfo(site.timezone)
    except (ValueError, KeyError, OSError):
        problems.append(
            Problem(
                path="timezone",
                message=f"unknown timezone {site.timezone!r}",
                hint='use an IANA name such as "Asia/Shanghai"',
            )
        )


def _zones(site: Site, problems: list[Problem]) -> None:
    ids: dict[str, int] = {}
    for i, z in enumerate(site.zones):
        path = f"zones[{i}]"
        if not z.id:
            problems.append(
                Problem(
                    path=f"{path}.id", message="empty zone id", hint="give every zone a unique id"
                )
            )
        if z.id in ids:
            problems.append(
                Problem(
                    path=f"{path}.id",
                    message=f"duplicate zone id {z.id!r}",
                    hint=f"zones[{ids[z.id]}] already uses it; rename one",
                )
            )
        ids.setdefault(z.id, i)
        for name, temp in (
            ("target_temp_c", z.target_temp_c),
            ("setback_temp_c", z.setback_temp_c),
        ):
            if temp is not None and not (_MIN_TEMP_C <= temp <= _MAX_TEMP_C):
                problems.append(
                    Problem(
                        path=f"{path}.{name}",
                        message=f"{temp} C is absurd",
                        hint=f"use {_MIN_TEMP_C:g}..{_MAX_TEMP_C:g} C",
                    )
                )
        if z.template.target_temp_c is not None and not (
            _MIN_TEMP_C <= z.template.target_temp_c <= _MAX_TEMP_C
        ):
            problems.append(
                Problem(
                    path=f"{path}.template.target_temp_c",
                    message=f"{z.template.target_temp_c} C is absurd",
                    hint=f"use {_MIN_TEMP_C:g}..{_MAX_TEMP_C:g} C",
                )
            )
        for name in (
            "lights_pre_start",
            "lights_post_end",
            "hvac_post_end",
            "hvac_fixed_lead",
            "no_show_release",
        ):
            d = getattr(z.template, name)
            if d is not None and d < timedelta(0):
                problems.append(
                    Problem(
                        path=f"{path}.template.{name}",
                        message="negative duration",
                        hint='use a duration >= 0, e.g. "5m"',
                    )
                )
        outs = [light.output for light in z.lights] + [
            p for h in z.hvac for p in (h.enable, h.setpoint) if p is not None
        ]
        for o in {o for o in outs if outs.count(o) > 1}:
            problems.append(
                Problem(
                    path=path,
                    message=f"output {o!r} listed twice in zone {z.id!r}",
                    hint="list each output once per zone",
                )
            )
    for i, z in enumerate(site.zones):
        if z.parent is not None and z.parent not in ids:
            problems.append(
                Problem(
                    path=f"zones[{i}].parent",
                    message=f"unknown parent zone {z.parent!r}",
                    hint=f"one of {sorted(ids)[:8]}",
                )
            )
    parents = {z.id: z.parent for z in site.zones}
    reported: set[str] = set()
    for start in parents:
        seen: list[str] = []
        cur: str | None = start
        while cur is not None and cur in parents and cur not in seen:
            seen.append(cur)
            cur = parents[cur]
        if cur is not None and cur in seen:
            cycle = seen[seen.index(cur) :]
            if not reported & set(cycle):
                reported |= set(cycle)
                problems.append(
                    Problem(
                        path=f"zones[{ids[cur]}].parent",
                        message="zone parents form a cycle: " + " -> ".join([*cycle, cur]),
                        hint="a zone's parent chain must end at a top zone",
                    )
                )


def _templates(site: Site, problems: list[Problem]) -> None:
    for kind, tpl in site.templates.items():
        for name in ("lights_pre_start", "lights_post_end", "hvac_post_end", "hvac_fixed_lead"):
            if getattr(tpl, name) < timedelta(0):
                problems.append(
                    Problem(
                        path=f"templates.{kind}.{name}",
                        message="negative duration",
                        hint='use a duration >= 0, e.g. "5m"',
                    )
                )
        if tpl.no_show_release is not None and tpl.no_show_release < timedelta(0):
            problems.append(
                Problem(
                    path=f"templates.{kind}.no_show_release",
                    message="negative duration",
                    hint='use e.g. "15m", or leave it out to disable',
                )
            )
        if not (_MIN_TEMP_C <= tpl.target_temp_c <= _MAX_TEMP_C):
            problems.append(
                Problem(
                    path=f"templates.{kind}.target_temp_c",
                    message=f"{tpl.target_temp_c} C is absurd",
                    hint=f"use {_MIN_TEMP_C:g}..{_MAX_TEMP_C:g} C",
                )
            )
    if site.max_booking <= timedelta(0):
        problems.append(Problem(path="max_booking", message="must be positive", hint='e.g. "24h"'))


def _schedules(site: Site, problems: list[Problem]) -> None:
    seen: set[str] = set()
    for i, s in enumerate(site.schedules):
        path = f"schedules[{i}]"
        if s.id in seen:
            problems.append(
                Problem(
                    path=f"{path}.id",
                    message=f"duplicate schedule id {s.id!r}",
                    hint="give every schedule a unique id",
                )
            )
        seen.add(s.id)
        if not s.outputs:
            problems.append(
                Problem(
                    path=f"{path}.outputs",
                    message="schedule drives no output",
                    hint='add outputs = [{ output = "dev.point", value = true }]',
                )
            )
        for j, ex in enumerate(s.exceptions):
            if ex.last is not None and ex.last < ex.first:
                problems.append(
                    Problem(
                        path=f"{path}.exceptions[{j}]",
                        message=f"last {ex.last} is before first {ex.first}",
                        hint="swap them, or drop last for a single day",
                    )
                )
        for a, b in itertools.combinations(range(len(s.exceptions)), 2):
            ea, eb = s.exceptions[a], s.exceptions[b]
            if ea.first <= (eb.last or eb.first) and eb.first <= (ea.last or ea.first):
                problems.append(
                    Problem(
                        path=f"{path}.exceptions[{b}]",
                        message=f"overlaps exceptions[{a}]; the first one wins",
                        hint="make exception date ranges disjoint",
                        severity="warning",
                    )
                )


def _event_rules(site: Site, problems: list[Problem]) -> None:
    ids: set[str] = set()
    for i, r in enumerate(site.event_rules):
        path = f"event_rules[{i}]"
        if r.id in ids:
            problems.append(
                Problem(
                    path=f"{path}.id",
                    message=f"duplicate rule id {r.id!r}",
                    hint="give every rule a unique id",
                )
            )
        ids.add(r.id)
        if not r.trigger.all:
            problems.append(
                Problem(
                    path=f"{path}.trigger",
                    message="empty trigger",
                    hint='e.g. trigger = "hall_iaq.co2 > 1200"',
                )
            )
        if not r.actions:
            problems.append(
                Problem(
                    path=f"{path}.actions",
                    message="rule has no action",
                    hint='add actions = [{ output = "dev.point", value = 1 }]',
                )
            )
        if r.hold < timedelta(0) or r.end_hold < timedelta(0):
            problems.append(
                Problem(path=path, message="negative hold time", hint='use e.g. hold = "5m"')
            )
        for j, a in enumerate(r.actions):
            if a.level not in _RULE_LEVELS:
                problems.append(
                    Problem(
                        path=f"{path}.actions[{j}].level",
                        message=f"rules cannot write at level {a.level.value}",
                        hint="use event (default), schedule, booking or manual;"
                        " life safety is the emergency policy",
                    )
                )
        if (
            r.end is not None
            and _may_overlap(r.trigger, r.end)
            and r.end_hold == r.hold == timedelta(0)
        ):
            problems.append(
                Problem(
                    path=f"{path}.end",
                    message="end condition can hold while the trigger holds",
                    hint="make end the opposite side of a hysteresis band,"
                    " e.g. trigger co2 > 1200, end co2 < 1000",
                    severity="warning",
                )
            )
    _rule_cycles(site.event_rules, problems)
    _contradictions(site.event_rules, problems)


def _reads(r: EventRule) -> set[str]:
    pts = {c.point for c in r.trigger.all}
    if r.end is not None:
        pts |= {c.point for c in r.end.all}
    return pts


def _rule_cycles(rules: tuple[EventRule, ...], problems: list[Problem]) -> None:
    """A rule whose output feeds (directly or not) its own trigger oscillates."""
    writers: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rules):
        for a in r.actions:
            writers[a.output].append(i)
    edges = {
        i: sorted({w for p in _reads(r) for w in writers.get(p, ())}) for i, r in enumerate(rules)
    }
    state: dict[int, int] = {}  # 1 = on stack, 2 = done
    reported: set[frozenset[int]] = set()

    def visit(i: int, stack: list[int]) -> None:
        state[i] = 1
        stack.append(i)
        for j in edges[i]:
            if state.get(j) == 1:
                cycle = stack[stack.index(j) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    names = " -> ".join(rules[k].id for k in [*cycle, j])
                    problems.append(
                        Problem(
                            path=f"event_rules[{j}]",
                            message=f"rules form a cycle through their outputs: {names}",
                            hint="a rule must not (even indirectly) trigger on what it writes",
                        )
                    )
            elif j not in state:
                visit(j, stack)
        stack.pop()
        state[i] = 2

    for i in range(len(rules)):
        if i not in state:
            visit(i, [])


def _contradictions(rules: tuple[EventRule, ...], problems: list[Problem]) -> None:
    """Two rules writing different values to one output at one level whose triggers can overlap."""
    for (_, a), (j, b) in itertools.combinations(enumerate(rules), 2):
        for x in a.actions:
            for y in b.actions:
                if (x.output, x.level) != (y.output, y.level) or x.value == y.value:
                    continue
                if _may_overlap(a.trigger, b.trigger):
                    problems.append(
                        Problem(
                            path=f"event_rules[{j}]",
                            message=f"contradicts rule {a.id!r}: both write {x.output!r}"
                            f" at level {x.level.value} ({x.value!r} vs {y.value!r})"
                            " and their triggers can hold together",
                            hint="make the triggers exclusive, use different levels,"
                            " or merge them into one rule",
                        )
                    )


def _sat(c: Comparison, v: float) -> bool:
    return {
        ">": v > c.value,
        ">=": v >= c.value,
        "<": v < c.value,
        "<=": v <= c.value,
        "==": v == c.value,
        "!=": v != c.value,
    }[c.op]


def _may_overlap(a: Condition, b: Condition) -> bool:
    """Can both conjunctions hold at once? Exact for comparisons with constants."""
    by_point: dict[str, list[Comparison]] = defaultdict(list)
    for c in (*a.all, *b.all):
        by_point[c.point].append(c)
    for comps in by_point.values():
        consts = sorted({c.value for c in comps if math.isfinite(c.value)})
        candidates = set(consts)
        for k, v in enumerate(consts):
            candidates |= {v - 1.0, v + 1.0}
            if k + 1 < len(consts):
                candidates.add((v + consts[k + 1]) / 2)
        if not candidates:
            candidates = {0.0}
        if not any(all(_sat(c, v) for c in comps) for v in candidates):
            return False
    return True


def _emergency(site: Site, problems: list[Problem]) -> None:
    pol = site.emergency
    if not pol.alarms:
        problems.append(
            Problem(
                path="emergency.alarms",
                message="no fire-panel alarm input",
                hint='add alarms = [{ point = "firepanel.alarm" }]',
                severity="warning",
            )
        )
    gates = [g.output for g in pol.egress_gates]
    for g in {g for g in gates if gates.count(g) > 1}:
        problems.append(
            Problem(
                path="emergency.egress_gates",
                message=f"gate {g!r} listed twice",
                hint="list each gate once",
                severity="warning",
            )
        )


def _points(site: Site, known: set[str], problems: list[Problem]) -> None:
    def check(path: str, point: str | None, what: str) -> None:
        if point is not None and point not in known:
            near = sorted(p for p in known if p.split(".")[0] == point.split(".")[0])[:5]
            problems.append(
                Problem(
                    path=path,
                    message=f"unknown {what} {point!r}",
                    hint=f"known points of that device: {near}"
                    if near
                    else "declare it under a device, or fix the name",
                )
            )

    for i, z in enumerate(site.zones):
        for j, light in enumerate(z.lights):
            check(f"zones[{i}].lights[{j}].output", light.output, "output")
        for j, h in enumerate(z.hvac):
            check(f"zones[{i}].hvac[{j}].enable", h.enable, "output")
            check(f"zones[{i}].hvac[{j}].setpoint", h.setpoint, "output")
        check(f"zones[{i}].temp_point", z.temp_point, "input point")
    for i, s in enumerate(site.schedules):
        for j, so in enumerate(s.outputs):
            check(f"schedules[{i}].outputs[{j}].output", so.output, "output")
    for i, r in enumerate(site.event_rules):
        for j, c in enumerate(r.trigger.all):
            check(f"event_rules[{i}].trigger[{j}]", c.point, "input point")
        for j, c in enumerate(r.end.all if r.end is not None else ()):
            check(f"event_rules[{i}].end[{j}]", c.point, "input point")
        for j, a in enumerate(r.actions):
            check(f"event_rules[{i}].actions[{j}].output", a.output, "output")
    for j, al in enumerate(site.emergency.alarms):
        check(f"emergency.alarms[{j}].point", al.point, "input point")
    for j, g in enumerate(site.emergency.egress_gates):
        check(f"emergency.egress_gates[{j}].output", g.output, "output")
    for o in site.emergency.air:
        check(f"emergency.air.{o}", o, "output")
    for o in site.defaults:
        check(f"defaults.{o}", o, "output")


# --- bookings -----------------------------------------------------------------


def validate_booking(site: Site, booking: Booking, current: Booking | None = None) -> list[Problem]:
    """Problems of one incoming booking; `current` is the version already held, if any."""
    problems: list[Problem] = []
    try:
        _booking(site, booking, current, f"booking {booking.booking_id}", problems)
    except Exception as exc:  # the contract is "never raises"
        return _guard("booking", problems, exc)
    return problems


def validate_bookings(site: Site, bookings: Iterable[Booking]) -> list[Problem]:
    """Problems of a batch, including older or conflicting versions within the batch."""
    problems: list[Problem] = []
    try:
        held: dict[str, Booking] = {}
        for i, b in enumerate(bookings):
            _booking(site, b, held.get(b.booking_id), f"bookings[{i}] ({b.booking_id})", problems)
            cur = held.get(b.booking_id)
            if cur is None or b.version > cur.version:
                held[b.booking_id] = b
    except Exception as exc:  # the contract is "never raises"
        return _guard("bookings", problems, exc)
    return problems


def _booking(
    site: Site, b: Booking, current: Booking | None, path: str, problems: list[Problem]
) -> None:
    zones = {z.id for z in site.zones}
    if not b.booking_id:
        problems.append(
            Problem(
                path=f"{path}.booking_id",
                message="empty booking id",
                hint="the booking system must send its booking id",
            )
        )
    if b.zone not in zones:
        problems.append(
            Problem(
                path=f"{path}.zone",
                message=f"unknown zone {b.zone!r}",
                hint=f"one of {sorted(zones)[:8]}",
            )
        )
    if b.start.tzinfo is None or b.end.tzinfo is None:
        problems.append(
            Problem(
                path=path,
                message="start/end without a timezone",
                hint="send ISO 8601 with an offset, e.g. 2026-11-21T19:00:00+08:00",
            )
        )
        return
    if b.end <= b.start:
        problems.append(
            Problem(
                path=f"{path}.end",
                message=f"end {b.end.isoformat()} is not after start {b.start.isoformat()}",
                hint="a booking must end after it starts",
            )
        )
    elif b.end - b.start > site.max_booking:
        problems.append(
            Problem(
                path=f"{path}.end",
                message=f"absurd duration {b.end - b.start} (max {site.max_booking})",
                hint="split it into daily bookings, or raise max_booking",
            )
        )
    if b.version < 1:
        problems.append(
            Problem(
                path=f"{path}.version",
                message="version must be >= 1",
                hint="versions count edits from 1",
            )
        )
    if current is not None:
        if b.version < current.version:
            problems.append(
                Problem(
                    path=f"{path}.version",
                    message=f"older version {b.version} than the held {current.version}",
                    hint="ignored: a later edit has already been applied",
                )
            )
        elif b.version == current.version and b != current:
            problems.append(
                Problem(
                    path=f"{path}.version",
                    message=f"version {b.version} already held with different content",
                    hint="the booking system must bump the version on every edit",
                )
            )


# --- overrides ----------------------------------------------------------------


def validate_override(
    override: Override,
    now: datetime,
    known_outputs: Collection[str] | None = None,
    max_duration: timedelta = timedelta(days=7),
) -> list[Problem]:
    """Problems of a manual/cloud override; an expiry is mandatory and bounded."""
    problems: list[Problem] = []
    try:
        path = f"override {override.id}"
        if override.expires_at.tzinfo is None or override.issued_at.tzinfo is None:
            problems.append(
                Problem(
                    path=path,
                    message="issued_at/expires_at without a timezone",
                    hint="use aware datetimes",
                )
            )
            return problems
        if override.expires_at <= now:
            problems.append(
                Problem(
                    path=f"{path}.expires_at",
                    message="already expired",
                    hint='give an expiry in the future, e.g. "--for 2h"',
                )
            )
        if override.expires_at <= override.issued_at:
            problems.append(
                Problem(
                    path=f"{path}.expires_at",
                    message="expires before it is issued",
                    hint="expires_at must be after issued_at",
                )
            )
        elif override.expires_at - override.issued_at > max_duration:
            problems.append(
                Problem(
                    path=f"{path}.expires_at",
                    message=f"lasts {override.expires_at - override.issued_at},"
                    f" more than {max_duration}",
                    hint="overrides are temporary; renew it, or change the config",
                )
            )
        if not override.by:
            problems.append(
                Problem(
                    path=f"{path}.by",
                    message="no technician or command id",
                    hint="every override must say who issued it",
                )
            )
        if known_outputs is not None and override.output not in known_outputs:
            problems.append(
                Problem(
                    path=f"{path}.output",
                    message=f"unknown output {override.output!r}",
                    hint="use edgectl points to list outputs",
                )
            )
    except Exception as exc:  # the contract is "never raises"
        return _guard("override", problems, exc)
    return problems
