"""Executing operations: validate once, act through the stores, journal once.

Every operation, whoever asks, goes through `Operations.execute(op, actor)`: the same
checks (the point exists, the gateway drives it, the value fits the device's range and
the venue's guardrails), the same effect, and one journal line (kind `operation`) with
the structured actor, whether it succeeded or was refused. A reload is posted to the
daemon's own reload loop and awaited here: nothing that a reload may replace runs it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog

from edge.alarms import AlarmRefused
from edge.automation.emergency import ResetRefused, reset
from edge.automation.overrides import MAX_OVERRIDE
from edge.automation.reconciler import Cause
from edge.clock import Clock
from edge.gates import HOLD_MAX_S, HOLD_MIN_S, pulse_gate
from edge.journal import Entry
from edge.ops.model import (
    AckAlarm,
    Actor,
    OpenGate,
    Operation,
    Rebirth,
    ReleaseOutput,
    Reload,
    ReloadOutcome,
    ResetCounters,
    ResetEmergency,
    SetOutput,
    SetScene,
)
from edge.ops.refusal import Refused
from edge.ops.suggest import suggest
from edge.stores import Stores
from edge.venue import PointInfo, VenueRef
from rules.model import Value

log = structlog.get_logger("edge.ops")
SCENES = ("on", "off", "release")


class DaemonControl(Protocol):
    """What the operations need of the daemon itself."""

    @property
    def config_path(self) -> Path: ...

    @property
    def config_version(self) -> int: ...

    @property
    def started_mono(self) -> float: ...

    async def reload(self) -> ReloadOutcome:
        """Post a reload to the daemon's reload loop and wait for its outcome."""
        ...

    def health(self) -> dict[str, dict[str, object]]: ...


class Operations:
    def __init__(
        self, stores: Stores, venue: VenueRef, daemon: DaemonControl, clock: Clock
    ) -> None:
        self.stores = stores
        self.venue = venue
        self.daemon = daemon
        self.clock = clock

    # ---- the one entry ------------------------------------------------------------
    async def execute(self, op: Operation, actor: Actor) -> dict[str, Any]:
        """Run `op` for `actor`; raises Refused (journaled too) when it cannot."""
        try:
            result = await self._dispatch(op, actor)
        except Refused as exc:
            self._journal(op, actor, {"ok": False, "code": exc.code, "message": exc.message})
            log.warning("operation_refused", op=type(op).__name__, actor=str(actor),
                        code=exc.code, reason=exc.message)  # fmt: skip
            raise
        self._journal(op, actor, {"ok": True, **result})
        log.info("operation", op=type(op).__name__, actor=str(actor))
        return result

    async def _dispatch(self, op: Operation, actor: Actor) -> dict[str, Any]:
        match op:
            case SetOutput():
                return await self._set_output(op, actor)
            case ReleaseOutput():
                return await self._release(op, actor)
            case SetScene():
                return await self._scene(op, actor)
            case OpenGate():
                return await self._open_gate(op, actor)
            case AckAlarm():
                return self._ack(op, actor)
            case Reload():
                return await self._reload()
            case Rebirth():
                return {"sent": self.stores.link.request_rebirth()}
            case ResetEmergency():
                return await self._reset_emergency(actor)
            case ResetCounters():
                return self._reset_counters(op)

    # ---- validation -----------------------------------------------------------------
    def point(self, ref: str) -> PointInfo:
        info = self.venue.get().points.get(ref)
        if info is None:
            raise Refused(
                "unknown_point", f"unknown point '{ref}'", suggest(ref, self.venue.get().points)
            )
        return info

    def output(self, ref: str) -> PointInfo:
        info = self.point(ref)
        venue = self.venue.get()
        if ref not in venue.outputs:
            raise Refused(
                "not_writable",
                f"'{ref}' is not an output the gateway drives",
                "outputs are zone lights and HVAC, gate relays and rule or schedule outputs: "
                + suggest(ref, venue.outputs, "edgectl explain"),
            )
        return info

    def check_value(self, info: PointInfo, value: Value) -> Value:
        """The value the output may take, or Refused naming the allowed range."""
        if info.json_type == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            raise Refused("invalid", f"'{info.ref}' is on/off; got {value!r}", "use on or off")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Refused("invalid", f"'{info.ref}' takes a number; got {value!r}")
        if info.enum is not None and str(int(value)) not in info.enum:
            allowed = ", ".join(f"{k} ({v})" for k, v in sorted(info.enum.items()))
            raise Refused("out_of_range", f"'{info.ref}' takes one of {allowed}; got {value}")
        low, high = info.min, info.max
        if info.ref in self._setpoints():
            g = self.venue.get().config.guardrails
            low = g.setpoint_min_c if low is None else max(low, g.setpoint_min_c)
            high = g.setpoint_max_c if high is None else min(high, g.setpoint_max_c)
        if (low is not None and value < low) or (high is not None and value > high):
            unit = f" {info.unit}" if info.unit else ""
            raise Refused(
                "out_of_range",
                f"'{info.ref}' must be within {_num(low)}..{_num(high)}{unit}; got {value}",
                "the venue's guardrails and the device's range both apply",
            )
        return value

    def _setpoints(self) -> frozenset[str]:
        return frozenset(
            h.setpoint for z in self.venue.get().site.zones for h in z.hvac if h.setpoint
        )

    @staticmethod
    def check_duration(duration: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= duration <= MAX_OVERRIDE:
            raise Refused(
                "invalid",
                "an override needs an expiry between 1 s and 7 days",
                "e.g. --for 30m; the output returns to its schedule afterwards",
            )
        return duration

    # ---- operations -------------------------------------------------------------------
    async def _set_output(self, op: SetOutput, actor: Actor) -> dict[str, Any]:
        info = self.output(op.point)
        value = self.check_value(info, op.value)
        duration = self.check_duration(op.duration)
        ov = await self.stores.overrides.set(
            op.point, value, duration, actor.kind, actor.id, op.reason
        )
        return {"point": op.point, "value": value, "until": ov.expires_at.isoformat()}

    async def _release(self, op: ReleaseOutput, actor: Actor) -> dict[str, Any]:
        self.output(op.point)
        released = await self.stores.overrides.release(op.point, str(actor))
        return {"point": op.point, "released": released}

    async def _scene(self, op: SetScene, actor: Actor) -> dict[str, Any]:
        venue = self.venue.get()
        zones = {z.id: z for z in venue.config.zones}
        zone = zones.get(op.zone)
        if zone is None:
            raise Refused("unknown_zone", f"no zone '{op.zone}'", suggest(op.zone, zones))
        if op.scene not in SCENES:
            raise Refused("unknown_scene", f"no scene '{op.scene}'", f"scenes: {', '.join(SCENES)}")
        lights = [ref for ref in zone.lights if ref in venue.outputs]
        if op.scene != "release":
            duration = self.check_duration(op.duration)
        for ref in lights:
            if op.scene == "release":
                await self.stores.overrides.release(ref, str(actor))
            else:
                value = self.check_value(venue.points[ref], op.scene == "on")
                await self.stores.overrides.set(ref, value, duration, actor.kind, actor.id)
        return {"zone": op.zone, "scene": op.scene, "outputs": lights}

    async def _open_gate(self, op: OpenGate, actor: Actor) -> dict[str, Any]:
        venue = self.venue.get()
        known = sorted(g.id for g in venue.config.access.gates)
        if op.gate not in known:
            hint = suggest(op.gate, known, "edgectl status") if known else (
                "no gates are configured under [[access.gates]]"
            )  # fmt: skip
            raise Refused("unknown_gate", f"unknown gate '{op.gate}'", hint)
        if op.hold_s is not None and not HOLD_MIN_S <= op.hold_s <= HOLD_MAX_S:
            raise Refused(
                "out_of_range",
                f"hold_s must be within {HOLD_MIN_S:g}..{HOLD_MAX_S:g} s; got {op.hold_s:g}",
                "leave it out to use the gate's configured pulse_s",
            )
        cause = Cause(actor.kind, op.gate, actor=str(actor), detail=op.reason)
        if not await pulse_gate(self.stores.outputs, venue.gates, op.gate, cause, op.hold_s):
            raise Refused(
                "failed", f"gate '{op.gate}' did not take the pulse",
                "check `edgectl devices` for its controller",
            )  # fmt: skip
        return {"gate": op.gate, "opened": True}

    def _ack(self, op: AckAlarm, actor: Actor) -> dict[str, Any]:
        engine = self.stores.alarms
        if engine.get(op.alarm_id) is None:
            known = [r.alarm_id for r in engine.open_alarms()]
            hint = suggest(op.alarm_id, known, "edgectl alarms") if known else "no open alarms"
            raise Refused("unknown_alarm", f"no alarm '{op.alarm_id}'", hint)
        try:
            ev = engine.ack(op.alarm_id, op.by or str(actor))
        except AlarmRefused as exc:
            raise Refused("refused", str(exc)) from None
        return {"alarm_id": ev.alarm_id, "state": ev.state.value}

    async def _reload(self) -> dict[str, Any]:
        outcome = await self.daemon.reload()
        if not outcome.ok:
            raise Refused(
                "bad_config",
                "the config was not reloaded: " + "; ".join(outcome.problems[:20]),
                "the old config keeps running; fix the file, then `edgectl config check FILE`",
            )
        return {"reloaded": True, "config_version": outcome.config_version}

    async def _reset_emergency(self, actor: Actor) -> dict[str, Any]:
        state = self.stores.emergency
        if not state.active:
            return {"active": False, "reset": False}
        try:
            reset(state, self.venue.get().site.emergency.alarms, self.stores.points, str(actor))
        except ResetRefused as exc:
            raise Refused("panel_in_alarm", str(exc), "then reset again") from None
        # The access tables' module loads here: a venue without gates never needs it.
        from edge.access.store import release_after_evacuation

        released = await release_after_evacuation(self.stores.db, self.clock.now())
        return {"active": False, "reset": True, "passes_released": released}

    def _reset_counters(self, op: ResetCounters) -> dict[str, Any]:
        counters = self.stores.counters
        before = counters.snapshot().get(op.output)
        if before is None:
            raise Refused(
                "unknown_output", f"no counters for '{op.output}'",
                suggest(op.output, counters.snapshot(), "edgectl counters"),
            )  # fmt: skip
        counters.reset(op.output)
        return {"output": op.output, "reset": True, "before": before}

    # ---- the journal line -------------------------------------------------------------
    def _journal(self, op: Operation, actor: Actor, outcome: dict[str, Any]) -> None:
        subject, device, zone = self._subject(op)
        body: dict[str, Any] = {"op": _op_name(op), **_fields(op), **outcome}
        self.stores.journal.record(
            Entry(
                ts=self.clock.now(), kind="operation", subject=subject, device=device,
                zone=zone, actor=actor.id, actor_kind=actor.kind, body=body,
            )
        )  # fmt: skip

    def _subject(self, op: Operation) -> tuple[str, str | None, str | None]:
        venue = self.venue.get()
        match op:
            case SetOutput(point=ref) | ReleaseOutput(point=ref) | ResetCounters(output=ref):
                device = ref.partition(".")[0]
                return ref, device, venue.zone_of.get(ref) or venue.zone_of.get(device)
            case SetScene(zone=zone):
                return zone, None, zone
            case OpenGate(gate=gate):
                zones = {g.id: g.zones[0] if g.zones else None for g in venue.config.access.gates}
                return gate, None, zones.get(gate)
            case AckAlarm(alarm_id=alarm):
                return alarm, None, None
            case Reload() | Rebirth():
                return str(self.daemon.config_path), None, None
            case ResetEmergency():
                return "fire-panel", None, None


def _op_name(op: Operation) -> str:
    names = {
        SetOutput: "set_output", ReleaseOutput: "release_output", SetScene: "scene",
        OpenGate: "open_gate", AckAlarm: "ack_alarm", Reload: "reload", Rebirth: "rebirth",
        ResetEmergency: "reset_emergency", ResetCounters: "reset_counters",
    }  # fmt: skip
    return names[type(op)]


def _fields(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in getattr(op, "__slots__", ()):
        value = getattr(op, name)
        out[name] = value.total_seconds() if isinstance(value, timedelta) else value
    return out


def _num(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"
