"""Which components a config asks for, each keyed by the part of the config it uses.

On reload the daemon compares keys: a component whose slice of the config did not
change keeps running (healthy bus connections are not dropped); the others are
replaced, started or stopped. Start order: buses, reconciler, emergency, automation,
control socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from drivers.modbus.codec import Value
from edge.alarms import AlarmService, journal_entry, kernel_clock_synced, zone_wanted_from
from edge.automation.emergency import EmergencyComponent
from edge.automation.engine import Automation
from edge.automation.reconciler import Reconciler, WriteRecord
from edge.automation.site import build_site
from edge.bookings.store import BookingStore
from edge.clock import field_clock
from edge.config.model import SerialLineBus, VenueConfig
from edge.control.server import ControlServer
from edge.counters import Counters, outputs_from_config
from edge.energy import BookingEnergy, EnergyInterval, EnergyService, window_with_prestarts
from edge.field.buses import (
    BusComponent,
    BusRegistry,
    bus_key,
    device_configs,
    make_link,
    modbus_buses,
)
from edge.field.points import PointTable
from edge.gates import GateComponent, GateHooks
from edge.journal import Entry, Journal
from edge.profiles import enum_labels
from edge.storage import Database
from edge.supervisor import Component
from edge.upstream import UpstreamComponent

if TYPE_CHECKING:
    from edge.daemon import Daemon


@dataclass
class Runtime:
    """What components share for the daemon's whole life (reloads keep them)."""

    daemon: Daemon
    db: Database
    bookings: BookingStore
    journal: Journal
    points: PointTable = field(default_factory=PointTable)
    registry: BusRegistry = field(default_factory=BusRegistry)
    reconciler: Reconciler | None = None
    automation: Automation | None = None
    emergency: EmergencyComponent | None = None
    gates: GateComponent | None = None
    counters: Counters | None = None
    alarms: AlarmService | None = None
    energy: EnergyService | None = None
    upstream: UpstreamComponent | None = None
    zone_of: dict[str, str] = field(default_factory=dict)
    alarm_listeners: list[Callable[[Any], None]] = field(default_factory=list)
    energy_listeners: list[Callable[[Any], None]] = field(default_factory=list)
    _labels: tuple[VenueConfig, dict[str, dict[str, str]]] | None = None
    outbox_fill: Callable[[], tuple[int, int]] = lambda: (0, 1)
    """(depth, bound) of the uplink outbox, for the outbox-filling alarm."""
    """device or output -> zone, for journal queries by zone."""

    @classmethod
    async def create(cls, daemon: Daemon, db: Database) -> Runtime:
        journal = Journal(db, daemon.clock)
        rt = cls(daemon=daemon, db=db, bookings=await BookingStore.open(db), journal=journal)
        rt.reconciler = Reconciler(
            daemon.clock, rt.points, rt.registry.write, rt.on_write, normalise=rt.enum_label
        )
        rt.alarm_listeners.append(lambda ev: rt.upstream.on_alarm(ev) if rt.upstream else None)
        rt.energy_listeners.append(lambda r: rt.upstream.on_energy(r) if rt.upstream else None)
        journal.subscribe(lambda e: rt.upstream.on_journal(e) if rt.upstream else None)
        return rt

    def enum_label(self, output: str, value: Value) -> Value:
        """A raw enum number wanted by a rule, as the device reads it back (its label)."""
        config = self.daemon.config
        if self._labels is None or self._labels[0] is not config:
            devices = ((d.id, d.profile, d.points) for d in config.devices)
            self._labels = (config, enum_labels(devices))
        labels = self._labels[1].get(output)
        if labels is None or isinstance(value, bool) or not isinstance(value, int):
            return value
        return labels.get(str(value), value)

    def on_write(self, w: WriteRecord) -> None:
        self.journal_write(w)
        if self.counters is not None:
            self.counters.on_write(w)

    def journal_energy(self, rec: EnergyInterval | BookingEnergy) -> None:
        if isinstance(rec, BookingEnergy):
            self.journal.record(
                Entry(
                    ts=rec.end,
                    kind="energy",
                    subject=rec.booking_id,
                    zone=rec.zone,
                    booking=rec.booking_id,
                    actor="booking",
                    body={
                        "kwh": rec.kwh,
                        "meters": rec.meters,
                        "estimated": rec.estimated,
                        "start": rec.start.isoformat(),
                        "end": rec.end.isoformat(),
                        "reasons": rec.reasons,
                    },
                )
            )
        else:
            self.journal.record(
                Entry(
                    ts=rec.end,
                    kind="energy",
                    subject=rec.subject,
                    zone=rec.zone,
                    device=rec.subject if rec.kind == "meter" else None,
                    actor=rec.kind,
                    body={
                        "kwh": rec.kwh,
                        "estimated": rec.estimated,
                        "start": rec.start.isoformat(),
                        "end": rec.end.isoformat(),
                        "reasons": rec.reasons,
                    },
                )
            )

    def journal_write(self, w: WriteRecord) -> None:
        device = w.output.partition(".")[0]
        kind, _, cause_id = w.want.cause.partition(":")
        self.journal.record(
            Entry(
                ts=w.at,
                kind="write",
                subject=w.output,
                device=device,
                zone=self.zone_of.get(w.output) or self.zone_of.get(device),
                booking=cause_id if kind == "booking" else None,
                actor=w.want.cause,
                body={
                    "value": w.want.value,
                    "level": w.want.level,
                    "read_back": None if w.result is None else w.result.value,
                    "verified": bool(w.result and w.result.verified),
                    "error": w.error,
                    "since": w.want.since.isoformat() if w.want.since else None,
                    "until": w.want.until.isoformat() if w.want.until else None,
                },
            )
        )

    def journal_action(self, kind: str, subject: str, actor: str, **body: Any) -> None:
        self.journal.record(
            Entry(
                ts=self.daemon.clock.now(),
                kind=kind,
                subject=subject,
                device=subject.partition(".")[0] if "." in subject else None,
                zone=self.zone_of.get(subject),
                actor=actor,
                body=body,
            )
        )


@dataclass(frozen=True)
class Spec:
    key: bytes
    make: Callable[[], Component]


def _key(*parts: Any) -> bytes:
    return msgspec.json.encode(parts)


class _ReconcilerComponent:
    name = "reconciler"

    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    async def run(self, ready: Callable[[], None]) -> None:
        await self._reconciler.run(ready)


def plan(config: VenueConfig, rt: Runtime) -> dict[str, Spec]:
    """The components for `config`, in start order."""
    from edge.control.handlers import control_handlers

    d = rt.daemon
    rt.zone_of = {dev.id: dev.zone for dev in config.devices if dev.zone}
    rt.zone_of.update({ref: z.id for z in config.zones for ref in z.lights})
    journal = rt.journal
    specs: dict[str, Spec] = {"journal": Spec(b"journal", lambda: journal)}
    for b in modbus_buses(config):

        def make_bus(b: Any = b) -> Component:
            return BusComponent(
                b.id,
                make_link(b),
                device_configs(config, b),
                field_clock(d.clock),
                rt.points,
                rt.registry,
                d.liveness,
            )

        specs[f"bus:{b.id}"] = Spec(bus_key(config, b), make_bus)
    assert rt.reconciler is not None
    reconciler = rt.reconciler
    specs["reconciler"] = Spec(b"reconciler", lambda: _ReconcilerComponent(reconciler))
    site, problems = build_site(config)
    if site is None:  # load() already refused such a config; keep the daemon honest anyway
        raise ValueError(f"rules config invalid: {problems}")

    def make_emergency() -> Component:
        rt.emergency = EmergencyComponent(
            site,
            d.clock,
            rt.points,
            reconciler,
            rt.db,
            on_change=lambda active, src: rt.journal_action(
                "emergency", "fire-panel", src, active=active
            ),
        )
        return rt.emergency

    def make_automation() -> Component:
        def reset_at() -> Any:
            w = rt.emergency.watcher if rt.emergency is not None else None
            return None if w is None else w.reset_at

        rt.automation = Automation(
            site,
            d.clock,
            rt.points,
            reconciler,
            rt.bookings,
            rt.db,
            d.liveness,
            emergency_reset_at=reset_at,
        )
        return rt.automation

    def emergency_active() -> bool:
        w = rt.emergency.watcher if rt.emergency is not None else None
        return bool(w and w.active)

    def on_entry(booking_id: str, event: Any) -> None:
        if rt.automation is not None:
            rt.automation.record_entry(booking_id, event.ts)

    def make_upstream() -> Component:
        rt.upstream = UpstreamComponent(config, rt)
        return rt.upstream

    def on_access(event: Any) -> None:
        if rt.upstream is not None:
            rt.upstream.on_access(event)

    def make_gates() -> Component:
        hooks = GateHooks(emergency=emergency_active, on_entry=on_entry, on_event=[on_access])
        rt.gates = GateComponent(config, d.clock, rt.db, rt.bookings, reconciler, rt.journal, hooks)
        return rt.gates

    def make_counters() -> Component:
        rt.counters = Counters(
            rt.db,
            d.clock,
            outputs_from_config((dv.id, dv.profile) for dv in config.devices),
            flush_s=60.0,
            points=rt.points,
        )
        return rt.counters

    def make_alarms() -> Component:
        counters = rt.counters
        rt.alarms = AlarmService(
            config,
            config.alarms,
            rt.db,
            d.clock,
            rt.points,
            bookings=rt.bookings.snapshot,
            zone_wanted=zone_wanted_from(
                site, lambda: rt.automation.last if rt.automation else None
            ),
            counters=counters.snapshot if counters is not None else None,
            outbox_fill=lambda: rt.outbox_fill(),  # the uplink, started later, sets it
            clock_synced=kernel_clock_synced,
        )
        rt.alarms.subscribe(lambda ev: rt.journal.record(journal_entry(ev)))
        for listener in rt.alarm_listeners:
            rt.alarms.subscribe(listener)
        return rt.alarms

    def prestart_of(zone: str, start: Any) -> Any:
        return rt.automation.prestart_of(zone, start) if rt.automation is not None else None

    def make_energy() -> Component:
        rt.energy = EnergyService(
            config,
            config.energy,
            rt.db,
            d.clock,
            points=rt.points,
            bookings=rt.bookings.snapshot,
            window=window_with_prestarts(site, prestart_of),
        )
        rt.energy.subscribe(rt.journal_energy)
        for listener in rt.energy_listeners:
            rt.energy.subscribe(listener)
        return rt.energy

    specs["emergency"] = Spec(_key(site.emergency, site.zones), make_emergency)
    devices_key = _key(config.devices, config.zones)
    specs["counters"] = Spec(devices_key, make_counters)
    specs["alarms"] = Spec(
        _key(config.alarms, config.devices, config.zones, config.access, site), make_alarms
    )
    specs["energy"] = Spec(_key(config.energy, config.devices, config.zones, site), make_energy)
    specs["uplink"] = Spec(
        _key(
            config.uplink,
            config.site,
            config.zones,
            config.devices,
            config.access.gates,
            config.guardrails,
        ),
        make_upstream,
    )
    specs["automation"] = Spec(_key(site), make_automation)
    if config.access.gates:
        lines = [b for b in config.buses if isinstance(b, SerialLineBus)]
        specs["gates"] = Spec(
            _key(
                config.site.id,
                config.access,
                config.zones,
                lines,
                [dv for dv in config.devices if dv.id in {g.device for g in config.access.gates}],
            ),
            make_gates,
        )
    runtime_dir = Path(config.storage.runtime_dir)
    specs["control"] = Spec(
        _key(config.storage.runtime_dir),
        lambda: ControlServer(runtime_dir, control_handlers(rt)),
    )
    return specs
