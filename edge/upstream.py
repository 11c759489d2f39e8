"""The daemon's side of the uplink: what goes up, and what cloud commands may do.

Up: the birth inventory, point changes (batched every half second: the bus already
reports by exception with deadband and heartbeat), device online/offline, access
decisions, journal entries, alarms (top priority) and energy. Down: bookings (into
the local store, by version) and commands, each checked against the venue's
guardrails before a handler runs. Commands act through the same paths as edgectl:
overrides through the reconciler, gates through the gate component.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import structlog

from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate
from edge.access.records import AccessEvent
from edge.alarms import AlarmEvent, AlarmRefused
from edge.bookings.sync import BookingSync
from edge.config.model import VenueConfig
from edge.energy import BookingEnergy, EnergyInterval
from edge.journal import Entry
from edge.profiles import profile_points
from edge.uplink import (
    AckAlarm,
    AlarmBody,
    BirthBody,
    BirthDevice,
    BirthPoint,
    BirthZone,
    Command,
    CommandRefused,
    EnergyBody,
    EventBody,
    OpenGate,
    PointValue,
    Scene,
    SetPoint,
    StateBody,
    Uplink,
)
from edge.uplink.config import from_venue_uplink

if TYPE_CHECKING:
    from edge.assembly import Runtime

log = structlog.get_logger("edge.upstream")
STATE_BATCH_S = 0.5
FORWARDED_JOURNAL = {"write", "override", "config", "action", "emergency"}
ALARM_ACTION = {"raised": "raise", "cleared": "clear", "closed": "clear", "acked": "ack"}
SCENES = ("on", "off", "release")


def _quality(q: object) -> Literal["good", "bad", "uncertain", "stale"]:
    """The contract's qualities: a device that does not answer is `bad`."""
    text = str(q)
    if text in ("good", "uncertain", "stale"):
        return text  # type: ignore[return-value]
    return "bad"


def _scalar(value: object) -> bool | int | float | str | None:
    return value if isinstance(value, bool | int | float | str) or value is None else str(value)


class UpstreamComponent:
    name = "uplink"

    def __init__(self, cfg: VenueConfig, rt: Runtime) -> None:
        self._cfg = cfg
        self._rt = rt
        self._pending: dict[str, PointValue] = {}
        self._units: dict[str, str] = {}
        self.uplink: Uplink | None = None
        self._unsubscribe: list[Callable[[], object]] = []

    # ---- up ------------------------------------------------------------------------
    async def birth(self) -> BirthBody:
        rt, cfg = self._rt, self._cfg
        online = rt.points.devices()
        devices = []
        for d in cfg.devices:
            points = []
            for name in sorted(profile_points(d.profile) or ()):
                st = rt.points.get(f"{d.id}.{name}")
                points.append(
                    BirthPoint(
                        name=name,
                        datatype=type(st.value).__name__
                        if st and st.value is not None
                        else "unknown",
                        unit=self._units.get(f"{d.id}.{name}") or None,
                        writable=f"{d.id}.{name}"
                        in (rt.reconciler.outputs() if rt.reconciler else []),
                        value=_scalar(st.value) if st else None,
                        quality=_quality(st.quality) if st else "uncertain",
                    )
                )
            loc = {
                k: v
                for k, v in (
                    ("building", d.location.building),
                    ("floor", d.location.floor),
                    ("room", d.location.room),
                    ("x", d.location.x),
                    ("y", d.location.y),
                )
                if v not in ("", None)
            }
            devices.append(
                BirthDevice(
                    id=d.id,
                    profile=d.profile,
                    zone=d.zone,
                    location=loc,
                    online=bool(online.get(d.id)),
                    points=points,
                )
            )
        zones = [BirthZone(id=z.id, kind=z.kind, name=z.name, parent=z.parent) for z in cfg.zones]
        return BirthBody(
            zones=zones,
            devices=devices,
            software="edged 0.1.0",
            config_version=str(rt.daemon.config_version),
        )

    def _on_point(self, event: BusEvent) -> None:
        if self.uplink is None:
            return
        if isinstance(event, PointUpdate):
            ref = f"{event.device}.{event.point}"
            self._pending[ref] = PointValue(
                point=ref,
                value=_scalar(event.value),
                quality=_quality(event.quality),
                ts=event.ts,
            )
        elif isinstance(event, DeviceStatus):
            self.uplink.put_nowait(
                EventBody(
                    kind="device_online" if event.online else "device_offline",
                    device=event.device,
                    message=event.reason,
                )
            )

    async def _flush_state(self) -> None:
        while True:
            await asyncio.sleep(STATE_BATCH_S)
            if self._pending and self.uplink is not None:
                batch, self._pending = list(self._pending.values()), {}
                self.uplink.put_nowait(StateBody(points=batch))

    def on_access(self, event: AccessEvent) -> None:
        if self.uplink is not None:
            self.uplink.put_nowait(
                EventBody(
                    kind="access_decision",
                    zone=event.gate,
                    booking_id=event.booking_id,
                    message=event.reason,
                    data={
                        "gate": event.gate,
                        "granted": event.granted,
                        "reason": event.reason,
                        "pass_id": event.pass_id,
                        "reader": event.reader,
                        "kind": event.kind,
                        "subject": event.subject,
                        "latency_ms": round(event.latency_ms, 2),
                        "ts": event.ts.isoformat(),
                    },
                )
            )

    def on_journal(self, entry: Entry) -> None:
        if self.uplink is not None and entry.kind in FORWARDED_JOURNAL:
            self.uplink.put_nowait(
                EventBody(
                    kind=f"journal_{entry.kind}",
                    zone=entry.zone,
                    device=entry.device,
                    booking_id=entry.booking,
                    message=entry.subject,
                    data={
                        "subject": entry.subject,
                        "actor": entry.actor,
                        "ts": entry.ts.isoformat(),
                        **{
                            k: _scalar(v) if not isinstance(v, dict | list) else v
                            for k, v in (entry.body or {}).items()
                        },
                    },
                )
            )

    def on_alarm(self, ev: AlarmEvent) -> None:
        action = ALARM_ACTION.get(ev.state.value)
        if self.uplink is None or action is None:
            return
        self.uplink.put_nowait(
            AlarmBody(
                alarm_id=ev.alarm_id,
                action=action,  # type: ignore[arg-type]
                severity=ev.severity.value,
                text=ev.message,
                device=ev.device,
                by=ev.ack_by,
            )
        )

    def on_energy(self, rec: EnergyInterval | BookingEnergy) -> None:
        if self.uplink is None:
            return
        if isinstance(rec, BookingEnergy):
            body = EnergyBody(
                kind="booking_total",
                meter=",".join(sorted(rec.meters)),
                start=rec.start,
                end=rec.end,
                kwh=rec.kwh,
                zone=rec.zone,
                booking_id=rec.booking_id,
            )
        else:
            body = EnergyBody(
                kind="interval",
                meter=rec.subject,
                start=rec.start,
                end=rec.end,
                kwh=rec.kwh,
                zone=rec.zone,
            )
        self.uplink.put_nowait(body)

    # ---- down: guardrails and handlers -------------------------------------------------
    def guardrail(self, cmd: Command) -> None:
        if isinstance(cmd, SetPoint):
            outputs = self._rt.reconciler.outputs() if self._rt.reconciler else []
            if cmd.point not in outputs:
                known = {
                    f"{d.id}.{p}"
                    for d in self._cfg.devices
                    for p in profile_points(d.profile) or ()
                }
                code = "not_writable" if cmd.point in known else "unknown_point"
                raise CommandRefused(code, f"'{cmd.point}' is not an output the gateway controls")
            g = self._cfg.guardrails
            if cmd.point.endswith(".setpoint") and (
                isinstance(cmd.value, bool) or not g.setpoint_min_c <= cmd.value <= g.setpoint_max_c
            ):
                raise CommandRefused(
                    "out_of_range",
                    f"setpoint must be {g.setpoint_min_c}..{g.setpoint_max_c} C, got {cmd.value}",
                )
        elif isinstance(cmd, Scene):
            if cmd.zone not in {z.id for z in self._cfg.zones}:
                raise CommandRefused("unknown_zone", f"no zone '{cmd.zone}'")
            if cmd.scene not in SCENES:
                raise CommandRefused("unknown_scene", f"scenes are {', '.join(SCENES)}")
        elif isinstance(cmd, OpenGate) and cmd.gate not in {g.id for g in self._cfg.access.gates}:
            raise CommandRefused("unknown_gate", f"no gate '{cmd.gate}'")

    def _override_for(self) -> timedelta:
        return timedelta(minutes=self._cfg.guardrails.cloud_override_min)

    async def _set_point(self, cmd: Command) -> dict[str, Any]:
        assert isinstance(cmd, SetPoint)
        automation = self._need_automation()
        ov = await automation.add_override(
            cmd.point, cmd.value, self._override_for(), "cloud", cmd.cmd_id
        )
        return {"point": cmd.point, "value": cmd.value, "until": ov.expires_at.isoformat()}

    async def _scene(self, cmd: Command) -> dict[str, Any]:
        assert isinstance(cmd, Scene)
        automation = self._need_automation()
        lights = [ref for z in self._cfg.zones if z.id == cmd.zone for ref in z.lights]
        for ref in lights:
            if cmd.scene == "release":
                await automation.release(ref, cmd.cmd_id)
            else:
                await automation.add_override(
                    ref, cmd.scene == "on", self._override_for(), "cloud", cmd.cmd_id
                )
        return {"zone": cmd.zone, "scene": cmd.scene, "outputs": lights}

    async def _open_gate(self, cmd: Command) -> dict[str, Any]:
        assert isinstance(cmd, OpenGate)
        if self._rt.gates is None:
            raise CommandRefused("unavailable", "no gate component is running")
        if not await self._rt.gates.open_gate(cmd.gate, f"cloud:{cmd.cmd_id}"):
            raise CommandRefused("failed", f"gate '{cmd.gate}' did not take the pulse")
        self._rt.journal_action(
            "action", cmd.gate, f"cloud:{cmd.cmd_id}", action="gate_open", reason=cmd.reason
        )
        return {"gate": cmd.gate, "opened": True}

    async def _reload(self, cmd: Command) -> dict[str, Any]:
        ok = await self._rt.daemon.reload()
        if not ok:
            raise CommandRefused(
                "bad_config",
                "the config file on the gateway has problems; "
                "the old config keeps running (see `edgectl config check`)",
            )
        return {"config_version": self._rt.daemon.config_version}

    async def _ack_alarm(self, cmd: Command) -> dict[str, Any]:
        assert isinstance(cmd, AckAlarm)
        if self._rt.alarms is None:
            raise CommandRefused("unavailable", "the alarm engine is not running")
        try:
            ev = self._rt.alarms.engine.ack(cmd.alarm_id, cmd.by or f"cloud:{cmd.cmd_id}")
        except AlarmRefused as exc:
            raise CommandRefused("refused", str(exc)) from None
        return {"alarm_id": ev.alarm_id, "state": ev.state.value}

    def _need_automation(self) -> Any:
        if self._rt.automation is None:
            raise CommandRefused("unavailable", "automation is not running")
        return self._rt.automation

    # ---- the component ------------------------------------------------------------------
    async def run(self, ready: Callable[[], None]) -> None:
        rt, cfg = self._rt, self._cfg
        self._units = {}
        up = Uplink(
            from_venue_uplink(cfg.uplink),
            site=cfg.site.id,
            gateway=cfg.site.gateway,
            db=rt.db,
            clock=rt.daemon.clock,
            birth=self.birth,
            handlers={
                "set_point": self._set_point,
                "scene": self._scene,
                "open_gate": self._open_gate,
                "reload": self._reload,
                "ack_alarm": self._ack_alarm,
            },
            guardrail=self.guardrail,
            on_auth_failure=lambda reason: log.error("uplink_auth_failed", reason=reason),
        )
        zones = {z.id for z in cfg.zones}
        sync = BookingSync(
            rt.bookings, rt.daemon.clock, up.put_nowait, zone_known=lambda z: z in zones
        )
        up.on_message("bookings", sync.on_snapshot)
        up.on_message("bookings/delta", sync.on_delta)
        async with up:
            self.uplink = up
            rt.outbox_fill = lambda: (up.outbox.depth, cfg.uplink.outbox_max_messages)
            self._unsubscribe = [rt.points.subscribe(self._on_point)]
            ready()
            try:
                await self._flush_state()
            finally:
                for unsubscribe in self._unsubscribe:
                    unsubscribe()
                self.uplink = None
