"""Read-only questions edgectl asks: status, devices, points, explain, journal...

Answers are plain JSON-able values, built from the stores and the venue in force.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from drivers.modbus.bus import Bus
from edge.automation.emergency import alarm_points, panel_in_alarm
from edge.journal import MAX_QUERY_ROWS
from edge.ops.operations import Operations
from edge.ops.refusal import Refused
from rules import explain


class Queries:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    @property
    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self._ops.venue.get().config.site.timezone)

    async def status(self) -> dict[str, Any]:
        ops, stores = self._ops, self._ops.stores
        venue = ops.venue.get()
        devices = stores.points.devices()
        buses = {}
        for name, bus in stores.buses.buses.items():
            s = bus.stats
            buses[name] = {
                "link": bus.label,
                "connected": s.connected,
                "transactions": s.transactions,
                "errors": s.errors,
                "timeouts": s.timeouts,
                "reconnects": s.reconnects,
                "latency_avg_ms": round(s.latency_avg_s * 1000, 2),
                "latency_max_ms": round(s.latency_max_s * 1000, 2),
            }
            if isinstance(bus, Bus):
                buses[name]["poll"] = _poll(bus)
        link, rec, em = stores.link, stores.outputs, stores.emergency
        return {
            "uplink": {
                "running": link.running,
                "connected": link.connected,
                "broker": link.broker,
                "session": link.session,
                "outbox_depth": stores.outbox.depth,
                "oldest_age_s": await stores.outbox.oldest_age_s(),
                "reconnects": link.reconnects,
                "last_error": link.last_error,
            },
            "site": venue.config.site.id,
            "gateway": venue.config.site.gateway,
            "uptime_s": round(ops.clock.monotonic() - ops.daemon.started_mono, 1),
            "config_version": ops.daemon.config_version,
            "config_path": str(ops.daemon.config_path),
            "now": ops.clock.now().isoformat(),
            "devices_online": sum(1 for v in devices.values() if v),
            "devices_offline": sorted(k for k, v in devices.items() if not v),
            "devices_configured": len(venue.config.devices),
            "buses": buses,
            "alarms_open": len(stores.alarms.open_alarms()),
            "emergency": {
                "active": em.active,
                "since": em.latched_since.isoformat() if em.latched_since else None,
            },
            "writes": {"total": rec.stats.writes, "failed": rec.stats.failures},
            "bookings": {
                "version": stores.bookings.version,
                "count": len(stores.bookings.snapshot()),
            },
            "components": ops.daemon.health(),
            "database": {
                "path": str(stores.db.path),
                "recovered_from": str(stores.db.report.recovered_from or "") or None,
            },
        }

    def devices(self) -> list[dict[str, Any]]:
        online = self._ops.stores.points.devices()
        return [
            {
                "id": dev.id,
                "profile": dev.profile,
                "bus": dev.bus,
                "unit_id": dev.unit_id,
                "zone": dev.zone,
                "online": online.get(dev.id),
            }
            for dev in self._ops.venue.get().config.devices
        ]

    def points(self, device: str | None, zone: str | None) -> list[dict[str, Any]]:
        venue = self._ops.venue.get()
        in_zone = {d.id for d in venue.config.devices if zone is None or d.zone == zone}
        out = []
        for ref, st in self._ops.stores.points.items():
            dev = ref.partition(".")[0]
            if (device is None or dev == device) and dev in in_zone:
                info = venue.points.get(ref)
                out.append(
                    {
                        "point": ref,
                        "value": st.value,
                        "unit": info.unit if info else "",
                        "quality": str(st.quality),
                        "ts": st.ts.isoformat(),
                    }
                )
        return out

    def read(self, ref: str) -> dict[str, Any]:
        info = self._ops.point(ref)
        st = self._ops.stores.points.get(ref)
        if st is None:
            return {"point": ref, "value": None, "unit": info.unit, "quality": "not yet read"}
        return {
            "point": ref,
            "value": st.value,
            "unit": info.unit,
            "quality": str(st.quality),
            "ts": st.ts.isoformat(),
        }

    def explain(self, ref: str) -> dict[str, Any]:
        self._ops.output(ref)
        stores = self._ops.stores
        want = stores.outputs.effective(ref)
        ev = stores.automation.last
        st = stores.points.get(ref)
        out: dict[str, Any] = {"output": ref, "read_back": None if st is None else st.value}
        tz = self._tz

        def local(t: datetime | None) -> str | None:
            return t.astimezone(tz).isoformat() if t else None

        if want is not None and want.level == "life_safety":
            out.update(value=want.value, level="life_safety", cause=str(want.cause),
                       since=local(want.since), until=None)  # fmt: skip
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
                    {"level": w.level.value, "value": w.value,
                     "cause": f"{w.cause.kind}:{w.cause.id}"}
                    for w in e.levels
                ],
            )  # fmt: skip
        else:
            out.update(value=None, level=None, cause=None, text="not evaluated yet")
        return out

    def bookings(self, zone: str | None, date: str | None) -> list[dict[str, Any]]:
        tz = self._tz
        out = []
        for b in self._ops.stores.bookings.snapshot():
            if zone is not None and b.zone != zone:
                continue
            if date is not None and b.start.astimezone(tz).date().isoformat() != date:
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

    def emergency(self) -> dict[str, Any]:
        venue, stores = self._ops.venue.get(), self._ops.stores
        state = stores.emergency
        if not venue.site.emergency.alarms and not state.active:
            return {"active": False, "configured": False}
        return {
            "active": state.active,
            "since": state.latched_since.isoformat() if state.latched_since else None,
            "panel_in_alarm": panel_in_alarm(venue.site.emergency.alarms, stores.points),
            "alarm_points": alarm_points(venue.site, stores.points),
        }

    def _when(self, text: object, key: str) -> datetime | None:
        if text is None:
            return None
        try:
            at = datetime.fromisoformat(str(text))
        except ValueError:
            raise Refused(
                "invalid",
                f"--{key} '{text}' is not a time",
                "use ISO 8601, e.g. 2026-11-21T19:00+08:00, or a duration such as 2h",
            ) from None
        return at if at.tzinfo else at.replace(tzinfo=self._tz)

    async def journal(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        since = self._when(args.get("since"), "since")
        ago = args.get("since_ago_s")
        if isinstance(ago, int | float) and ago > 0:
            since = self._ops.clock.now() - timedelta(seconds=ago)
        limit = args.get("limit", 200)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise Refused("invalid", "--limit must be a positive whole number")
        text = {k: (str(v) if v is not None else None) for k, v in args.items()}
        return await self._ops.stores.journal.query(
            since=since,
            until=self._when(args.get("until"), "until"),
            device=text.get("device"),
            zone=text.get("zone"),
            booking=text.get("booking"),
            kind=text.get("kind"),
            subject=text.get("subject"),
            limit=limit,
        )

    async def access(self, gate: str | None, ago_s: float, limit: int) -> list[dict[str, Any]]:
        since = self._ops.clock.now() - timedelta(seconds=ago_s)
        rows = await self._ops.stores.journal.query(
            since=since, kind="access", subject=gate, limit=limit
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

    def alarms(self) -> list[dict[str, object]]:
        return self._ops.stores.alarms.snapshot()

    async def energy(self, booking: str | None, zone: str | None, day: str | None) -> Any:
        journal = self._ops.stores.journal
        if booking is not None:
            rows = await journal.query(kind="energy", booking=booking, limit=10)
            if not rows:
                raise Refused(
                    "invalid",
                    f"no energy recorded for booking '{booking}' yet",
                    "a booking's total is published once it has ended",
                )
            return rows[0]["body"] | {"booking": booking, "zone": rows[0]["zone"]}
        if zone is None or day is None:
            raise Refused("invalid", "say which: --booking ID, or --zone ZONE --day YYYY-MM-DD")
        try:
            start = datetime.fromisoformat(day).replace(tzinfo=self._tz)
        except ValueError:
            raise Refused("invalid", f"--day '{day}' is not a date", "use YYYY-MM-DD") from None
        rows = await journal.query(
            kind="energy", zone=zone, since=start, until=start + timedelta(days=1),
            limit=MAX_QUERY_ROWS,
        )  # fmt: skip
        intervals = [r for r in rows if r["actor"] == "zone"]
        return {
            "zone": zone,
            "day": day,
            "kwh": round(sum(r["body"]["kwh"] for r in intervals), 3),
            "intervals": len(intervals),
            "estimated": sum(1 for r in intervals if r["body"]["estimated"]),
        }

    def counters(self) -> dict[str, dict[str, float]]:
        return self._ops.stores.counters.snapshot()

    async def outbox(self) -> dict[str, Any]:
        stores = self._ops.stores
        link = stores.link
        return {
            "running": link.running,
            "connected": link.connected,
            "broker": link.broker,
            "depth": stores.outbox.depth,
            "oldest_age_s": await stores.outbox.oldest_age_s(),
            "by_stream": await stores.outbox.depth_by_stream(),
            "bound": self._ops.venue.get().config.uplink.outbox_max_messages,
        }


def _poll(bus: Bus) -> dict[str, dict[str, Any]]:
    """Per device: the configured poll period and the achieved one (mean of the last
    cycles); `cycles` and `last_start_mono` let a caller measure over its own window."""
    return {
        device: {
            "configured_s": p.configured_s,
            "achieved_s": None if p.achieved_s is None else round(p.achieved_s, 4),
            "worst_s": None if p.worst_s is None else round(p.worst_s, 4),
            "cycles": p.cycles,
            "last_start_mono": p.last_start,
        }
        for device, p in bus.poll_stats.items()
    }
