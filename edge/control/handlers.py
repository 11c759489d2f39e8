"""What edgectl can ask the daemon: one handler per command, validated, journaled by user."""

from __future__ import annotations

import difflib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog

from drivers.modbus.codec import Value
from edge.alarms import AlarmRefused
from edge.automation.emergency import ResetRefused
from edge.automation.engine import OverrideRefused
from edge.control.server import CommandError, Handler
from edge.profiles import profile_points
from rules import explain

if TYPE_CHECKING:
    from edge.assembly import Runtime

log = structlog.get_logger("edge.control")
MAX_OVERRIDE_S = 7 * 86400
MAX_ROWS = 5000


def _suggest(name: str, known: list[str], listing: str = "edgectl points") -> str:
    close = difflib.get_close_matches(name, known, n=3)
    return f"did you mean {', '.join(close)}?" if close else f"see `{listing}`"


def control_handlers(rt: Runtime) -> dict[str, Handler]:
    d = rt.daemon

    def all_points() -> list[str]:
        return sorted(
            f"{dev.id}.{p}" for dev in d.config.devices for p in profile_points(dev.profile) or ()
        )

    def check_point(ref: object) -> str:
        if not isinstance(ref, str) or ref not in all_points():
            raise CommandError(f"unknown point '{ref}'", _suggest(str(ref), all_points()))
        return ref

    async def ping(args: dict[str, Any], user: str) -> Any:
        return "pong"

    async def status(args: dict[str, Any], user: str) -> Any:
        devices = rt.points.devices()
        em = rt.emergency.watcher if rt.emergency is not None else None
        buses = {}
        for name, bus in rt.registry.buses.items():
            s = bus.stats
            buses[name] = {
                "link": bus.link.label,
                "connected": s.connected,
                "transactions": s.transactions,
                "errors": s.errors,
                "timeouts": s.timeouts,
                "reconnects": s.reconnects,
                "latency_avg_ms": round(s.latency_avg_s * 1000, 2),
                "latency_max_ms": round(s.latency_max_s * 1000, 2),
            }
        rec = rt.reconciler
        up = rt.upstream.uplink if rt.upstream is not None else None
        uplink: dict[str, Any] = {"running": False}
        if up is not None:
            st = await up.status()
            uplink = {
                "running": True,
                "connected": st.connected,
                "broker": st.broker,
                "session": st.session,
                "outbox_depth": st.outbox_depth,
                "oldest_age_s": st.oldest_age_s,
                "reconnects": st.reconnects,
                "last_error": st.last_error,
            }
        return {
            "uplink": uplink,
            "site": d.config.site.id,
            "gateway": d.config.site.gateway,
            "uptime_s": round(d.clock.monotonic() - d.started_mono, 1),
            "config_version": d.config_version,
            "config_path": str(d.config_path),
            "now": d.clock.now().isoformat(),
            "devices_online": sum(1 for v in devices.values() if v),
            "devices_offline": sorted(k for k, v in devices.items() if not v),
            "devices_configured": len(d.config.devices),
            "buses": buses,
            "alarms_open": len(rt.alarms.engine.snapshot()) if rt.alarms else 0,
            "emergency": {
                "active": bool(em and em.active),
                "since": em.latched_since.isoformat() if em and em.latched_since else None,
            },
            "writes": {
                "total": rec.stats.writes if rec else 0,
                "failed": rec.stats.failures if rec else 0,
            },
            "bookings": {"version": rt.bookings.version, "count": len(rt.bookings.snapshot())},
            "components": d.supervisor.health(),
            "database": {
                "path": str(rt.db.path),
                "recovered_from": str(rt.db.report.recovered_from or "") or None,
            },
        }

    async def reload(args: dict[str, Any], user: str) -> Any:
        log.info("edgectl_action", action="reload", user=user)
        rt.journal_action("config", str(d.config_path), user, action="reload")
        ok = await d.reload()
        return {"reloaded": ok, "config_version": d.config_version}

    async def devices(args: dict[str, Any], user: str) -> Any:
        online = rt.points.devices()
        return [
            {
                "id": dev.id,
                "profile": dev.profile,
                "bus": dev.bus,
                "unit_id": dev.unit_id,
                "zone": dev.zone,
                "online": online.get(dev.id),
            }
            for dev in d.config.devices
        ]

    async def points(args: dict[str, Any], user: str) -> Any:
        device, zone = args.get("device"), args.get("zone")
        in_zone = {dev.id for dev in d.config.devices if zone is None or dev.zone == zone}
        out = []
        for ref, st in rt.points.items():
            dev = ref.partition(".")[0]
            if (device is None or dev == device) and dev in in_zone:
                out.append(
                    {
                        "point": ref,
                        "value": st.value,
                        "quality": str(st.quality),
                        "ts": st.ts.isoformat(),
                    }
                )
        return out

    async def read(args: dict[str, Any], user: str) -> Any:
        ref = check_point(args.get("point"))
        st = rt.points.get(ref)
        if st is None:
            return {"point": ref, "value": None, "quality": "not yet read"}
        return {
            "point": ref,
            "value": st.value,
            "quality": str(st.quality),
            "ts": st.ts.isoformat(),
        }

    async def write(args: dict[str, Any], user: str) -> Any:
        ref = check_point(args.get("point"))
        writable = set(rt.reconciler.outputs()) if rt.reconciler else set()
        if ref not in writable:
            raise CommandError(
                f"'{ref}' is not an output the daemon controls",
                "only zone lights, HVAC and gates can be overridden; "
                "see `edgectl explain` for the outputs",
            )
        seconds = args.get("for_s")
        if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_OVERRIDE_S:
            raise CommandError(
                "an override needs an expiry: --for DURATION (e.g. --for 30m)",
                "at most 7 days; the output returns to its schedule afterwards",
            )
        value: Value = args.get("value")  # type: ignore[assignment]
        if not isinstance(value, bool | int | float):
            raise CommandError(f"value must be a number or true/false, got {value!r}")
        if rt.automation is None:
            raise CommandError("automation is not running", "see `edgectl status`")
        try:
            ov = await rt.automation.add_override(
                ref,
                value,
                timedelta(seconds=seconds),
                "technician",
                user,
                str(args.get("reason", "")),
            )
        except OverrideRefused as exc:
            raise CommandError(str(exc)) from None
        log.info("edgectl_action", action="write", user=user, point=ref, value=value)
        rt.journal_action(
            "override",
            ref,
            user,
            value=value,
            until=ov.expires_at.isoformat(),
            reason=str(args.get("reason", "")),
        )
        return {"point": ref, "value": value, "until": ov.expires_at.isoformat(), "by": user}

    async def release(args: dict[str, Any], user: str) -> Any:
        ref = check_point(args.get("point"))
        if rt.automation is None:
            raise CommandError("automation is not running", "see `edgectl status`")
        released = await rt.automation.release(ref, user)
        log.info("edgectl_action", action="release", user=user, point=ref)
        rt.journal_action("override", ref, user, released=released)
        return {"point": ref, "released": released}

    async def explain_(args: dict[str, Any], user: str) -> Any:
        ref = check_point(args.get("point"))
        want = rt.reconciler.effective(ref) if rt.reconciler else None
        ev = rt.automation.last if rt.automation else None
        st = rt.points.get(ref)
        out: dict[str, Any] = {"output": ref, "read_back": None if st is None else st.value}
        tz = ZoneInfo(d.config.site.timezone)  # a technician on site reads local time

        def local(t: datetime | None) -> str | None:
            return t.astimezone(tz).isoformat() if t else None

        if want is not None and want.level == "life_safety":
            out.update(
                value=want.value,
                level="life_safety",
                cause=want.cause,
                since=local(want.since),
                until=None,
            )
        elif ev is not None and ref in ev.outputs:
            e = explain(ev, ref)
            out.update(
                value=e.value,
                level=e.level.value if e.level else None,
                cause=f"{e.cause_kind}:{e.cause_id}" if e.cause_kind else None,
                detail=e.detail,
                since=local(e.since),
                until=local(e.until),
                text=e.text(),
                levels=[
                    {
                        "level": w.level.value,
                        "value": w.value,
                        "cause": f"{w.cause.kind}:{w.cause.id}",
                    }
                    for w in e.levels
                ],
            )
        else:
            raise CommandError(
                f"'{ref}' is not an output the daemon controls",
                "explain works on zone lights, HVAC and gates",
            )
        return out

    async def bookings(args: dict[str, Any], user: str) -> Any:
        zone, date = args.get("zone"), args.get("date")
        out = []
        for b in rt.bookings.snapshot():
            local = b.start.astimezone(ZoneInfo(d.config.site.timezone))
            if zone is not None and b.zone != zone:
                continue
            if date is not None and local.date().isoformat() != date:
                continue
            out.append(
                {
                    "booking_id": b.booking_id,
                    "zone": b.zone,
                    "start": b.start.isoformat(),
                    "end": b.end.isoformat(),
                    "status": b.status,
                    "version": b.version,
                }
            )
        return out

    async def emergency_status(args: dict[str, Any], user: str) -> Any:
        w = rt.emergency.watcher if rt.emergency is not None else None
        if w is None:
            return {"active": False, "configured": False}
        return {
            "active": w.active,
            "since": w.latched_since.isoformat() if w.latched_since else None,
            "panel_in_alarm": w.panel_in_alarm(),
            "alarm_points": w.alarm_points(),
        }

    async def emergency_reset(args: dict[str, Any], user: str) -> Any:
        w = rt.emergency.watcher if rt.emergency is not None else None
        if w is None or not w.active:
            return {"active": False, "reset": False}
        try:
            w.reset(user)
        except ResetRefused as exc:
            raise CommandError(str(exc), "reset the fire panel, then run this again") from None
        if rt.automation is not None:
            rt.automation.scheduler.poke()
        log.warning("edgectl_action", action="emergency_reset", user=user)
        return {"active": False, "reset": True, "by": user}

    async def journal(args: dict[str, Any], user: str) -> Any:
        ago = args.get("since_ago_s")
        if isinstance(ago, int | float) and ago > 0:
            args = {**args, "since": (d.clock.now() - timedelta(seconds=ago)).isoformat()}

        def when(key: str) -> datetime | None:
            text = args.get(key)
            if text is None:
                return None
            try:
                at = datetime.fromisoformat(str(text))
            except ValueError:
                raise CommandError(
                    f"--{key} '{text}' is not a time",
                    "use ISO 8601, e.g. 2026-11-21T19:00+08:00, or a duration such as 2h",
                ) from None
            return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(d.config.site.timezone))

        limit = args.get("limit", 200)
        if not isinstance(limit, int) or limit <= 0:
            raise CommandError("--limit must be a positive whole number")
        return await rt.journal.query(
            since=when("since"),
            until=when("until"),
            device=args.get("device"),
            zone=args.get("zone"),
            booking=args.get("booking"),
            kind=args.get("kind"),
            subject=args.get("subject"),
            limit=limit,
        )

    async def gate_open(args: dict[str, Any], user: str) -> Any:
        gate = args.get("gate")
        known = sorted(g.id for g in d.config.access.gates)
        if rt.gates is None or gate not in known:
            raise CommandError(
                f"unknown gate '{gate}'",
                _suggest(str(gate), known)
                if known
                else "no gates are configured under [[access.gates]]",
            )
        opened = await rt.gates.open_gate(str(gate), user)
        rt.journal_action("action", str(gate), user, action="gate_open", opened=opened)
        log.info("edgectl_action", action="gate_open", user=user, gate=gate, opened=opened)
        if not opened:
            raise CommandError(
                f"gate '{gate}' did not take the pulse",
                "check `edgectl devices` for its controller",
            )
        return {"gate": gate, "opened": True, "by": user}

    async def access(args: dict[str, Any], user: str) -> Any:
        ago = args.get("since_ago_s", 86400)
        since = d.clock.now() - timedelta(seconds=float(ago))
        rows = await rt.journal.query(
            since=since, kind="access", subject=args.get("gate"), limit=int(args.get("limit", 200))
        )
        return [
            {
                "ts": r["ts"],
                "gate": r["subject"],
                "granted": r["body"].get("granted"),
                "reason": r["body"].get("reason"),
                "pass_id": r["body"].get("pass_id"),
                "booking": r["booking"],
                "kind": r["actor"],
                "reader": r["body"].get("reader"),
                "latency_ms": r["body"].get("latency_ms"),
            }
            for r in rows
        ]

    async def alarms(args: dict[str, Any], user: str) -> Any:
        if rt.alarms is None:
            return []
        return rt.alarms.engine.snapshot()

    async def alarms_ack(args: dict[str, Any], user: str) -> Any:
        alarm_id = str(args.get("id"))
        if rt.alarms is None:
            raise CommandError("the alarm engine is not running", "see `edgectl status`")
        try:
            event = rt.alarms.engine.ack(alarm_id, user)
        except AlarmRefused as exc:
            known = [str(a["alarm_id"]) for a in rt.alarms.engine.snapshot()]
            raise CommandError(
                str(exc), _suggest(alarm_id, known) if known else "there are no open alarms"
            ) from None
        log.info("edgectl_action", action="alarm_ack", user=user, alarm=alarm_id)
        return {"alarm_id": event.alarm_id, "state": event.state.value, "by": user}

    async def energy(args: dict[str, Any], user: str) -> Any:
        booking, zone, day = args.get("booking"), args.get("zone"), args.get("day")
        if booking is not None:
            rows = await rt.journal.query(kind="energy", booking=str(booking), limit=10)
            if not rows:
                raise CommandError(
                    f"no energy recorded for booking '{booking}' yet",
                    "a booking's total is published once it has ended",
                )
            return rows[0]["body"] | {"booking": booking, "zone": rows[0]["zone"]}
        if zone is None or day is None:
            raise CommandError("say which: --booking ID, or --zone ZONE --day YYYY-MM-DD")
        try:
            start = datetime.fromisoformat(str(day)).replace(
                tzinfo=ZoneInfo(d.config.site.timezone)
            )
        except ValueError:
            raise CommandError(f"--day '{day}' is not a date", "use YYYY-MM-DD") from None
        rows = await rt.journal.query(
            kind="energy",
            zone=str(zone),
            since=start,
            until=start + timedelta(days=1),
            limit=MAX_ROWS,
        )
        intervals = [r for r in rows if r["actor"] == "zone"]
        return {
            "zone": zone,
            "day": day,
            "kwh": round(sum(r["body"]["kwh"] for r in intervals), 3),
            "intervals": len(intervals),
            "estimated": sum(1 for r in intervals if r["body"]["estimated"]),
        }

    async def counters(args: dict[str, Any], user: str) -> Any:
        return {} if rt.counters is None else rt.counters.snapshot()

    async def counters_reset(args: dict[str, Any], user: str) -> Any:
        """Maintenance done: the output's wear counts start from zero (journaled)."""
        output = str(args.get("output"))
        if rt.counters is None:
            raise CommandError("the counters are not running", "see `edgectl status`")
        known = sorted(rt.counters.snapshot())
        if output not in known:
            raise CommandError(
                f"no counters for '{output}'", _suggest(output, known, "edgectl counters")
            )
        before = rt.counters.snapshot()[output]
        rt.counters.reset(output)
        rt.journal_action("action", output, user, action="counters_reset", before=before)
        log.info("edgectl_action", action="counters_reset", user=user, output=output)
        return {"output": output, "reset": True, "before": before}

    async def outbox(args: dict[str, Any], user: str) -> Any:
        up = rt.upstream.uplink if rt.upstream is not None else None
        if up is None:
            raise CommandError("the uplink is not running", "see `edgectl status`")
        st = await up.status()
        return {
            "connected": st.connected,
            "broker": st.broker,
            "depth": st.outbox_depth,
            "oldest_age_s": st.oldest_age_s,
            "by_stream": await up.outbox.depth_by_stream(),
            "bound": d.config.uplink.outbox_max_messages,
        }

    return {
        "outbox": outbox,
        "alarms": alarms,
        "alarms_ack": alarms_ack,
        "energy": energy,
        "counters": counters,
        "counters_reset": counters_reset,
        "gate_open": gate_open,
        "access": access,
        "journal": journal,
        "ping": ping,
        "status": status,
        "reload": reload,
        "devices": devices,
        "points": points,
        "read": read,
        "write": write,
        "release": release,
        "explain": explain_,
        "bookings": bookings,
        "emergency_status": emergency_status,
        "emergency_reset": emergency_reset,
    }
