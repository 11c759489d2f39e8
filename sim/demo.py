"""`edge-sim demo`: the whole venue, a broker, the cloud emulator and `edged`, with a live timeline.

The story: a member books court 3 of hall A for 19:00-21:00. The cloud publishes the
booking; edged should switch the court's lights on shortly before the start,
pre-cool the hall to 25 C, open the main gate for the member's QR pass, and switch
the lights off after the grace period. Every line of the timeline comes from what the
simulated devices saw (Modbus writes, relay pulses, lit lamps, room temperature) or
from what the cloud emulator received; nothing is assumed. When edged does not act,
the timeline says so, and the summary lists what was expected against what was seen.

The simulator and edged share an accelerated clock: both start at the same simulated
instant with the same rate (edged's `--sim-start` / `--sim-rate`); the remaining skew
(edged's start-up time, times the rate) is measured and printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo

from edge.clock import SimClock
from edge.energy.nesting import downstream, upstream_meters
from sim.devices.barrier import GpioBarrier
from sim.devices.gate import GateController
from sim.devices.hvac import FanCoil
from sim.devices.lights import LightingController
from sim.devices.meter import EnergyMeter
from sim.venue import SimVenue

if TYPE_CHECKING:
    from sim.broker import Broker

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATE = "2026-07-15"
STOP_WAIT_S = 6.0
BOOKING_FALLBACK_S = 10.0
PLATE = "SH-A1234"
"""The member's car, on the booking: the car-park barrier's plate camera reads it."""
"""Real seconds after edged's start to publish the booking if its socket never answers."""
"""edged's own stop budget is 5 s; past this it is killed (as systemd would)."""


@dataclass(frozen=True)
class DemoOptions:
    config: Path
    params: Path | None = None
    rate: float = 60.0
    start: datetime | None = None
    """Simulated start (aware); default 17:35 local: early enough to pre-cool the hall."""
    court: str = "court-a3"
    booking_start: time = time(19, 0)
    booking_end: time = time(21, 0)
    pre_start_min: float = 5.0
    """Expected lights-on lead (the rules' default template)."""
    post_end_min: float = 10.0
    """Expected lights-off delay after the end (the rules' default template)."""
    duration_s: float | None = None
    """Stop after this many real seconds."""
    until: datetime | None = None
    """Stop at this simulated instant (default: booking end + grace + 5 min)."""
    edged: bool = True
    edged_cmd: tuple[str, ...] | None = None
    """Command that runs edged (default: this Python, `-m edge.daemon`)."""
    workdir: Path | None = None


@dataclass
class Seen:
    """Facts the timeline observed, for the summary."""

    lights_on_at: datetime | None = None
    lights_off_at: datetime | None = None
    hvac_on_at: datetime | None = None
    target_reached_at: datetime | None = None
    temp_at_start: float | None = None
    scan_at: datetime | None = None
    gate_opened_at: datetime | None = None
    plate_at: datetime | None = None
    barrier_pulses: list[float] = field(default_factory=list)
    """Lengths of the car-park barrier's GPIO relay pulses, measured at the barrier."""
    access_events: list[dict[str, Any]] = field(default_factory=list)
    energy_msgs: list[dict[str, Any]] = field(default_factory=list)
    meter_samples: list[tuple[datetime, dict[str, float]]] = field(default_factory=list)
    """(instant, every meter's true cumulative kWh): ground truth over any window."""
    edged_online_at: datetime | None = None
    edged_exit: int | None = None
    edged_killed: bool = False
    other_events: int = 0
    heartbeats: int = 0
    writes: int = 0


class Timeline:
    def __init__(self, clock: SimClock, tz: ZoneInfo, out: TextIO) -> None:
        self.clock, self.tz, self.out = clock, tz, out
        self.lines: list[str] = []

    def local(self, when: datetime | None = None) -> str:
        return (when or self.clock.now()).astimezone(self.tz).strftime("%H:%M:%S")

    def say(self, text: str, when: datetime | None = None) -> None:
        line = f"{self.local(when)}  {text}"
        self.lines.append(line)
        print(line, file=self.out, flush=True)

    def note(self, text: str) -> None:
        self.lines.append(text)
        print(text, file=self.out, flush=True)


class Demo:
    def __init__(self, opts: DemoOptions, out: TextIO = sys.stdout) -> None:
        self.opts = opts
        self.out = out
        self.seen = Seen()
        self.edged_proc: asyncio.subprocess.Process | None = None
        self.edged_up_at: float | None = None
        """Loop time at which edged's control socket first answered."""

    # ------------------------------------------------------------------ set-up
    async def run(self) -> int:
        from edge.config.errors import ConfigError
        from edge.config.load import load
        from edge.profiles import profile_points
        from sim.broker import BrokerUnavailable, open_broker
        from sim.errors import SimConfigError

        opts = self.opts
        try:
            config = load(opts.config, profile_points)
        except (ConfigError, SimConfigError) as exc:
            print(f"edge-sim demo: {exc}", file=sys.stderr)
            return 78
        self.tz = ZoneInfo(config.site.timezone)
        start = opts.start or datetime.fromisoformat(f"{DEFAULT_DATE}T17:35:00").replace(
            tzinfo=self.tz
        )
        day = start.astimezone(self.tz).date()
        self.b_start = datetime.combine(day, opts.booking_start, self.tz)
        self.b_end = datetime.combine(day, opts.booking_end, self.tz)
        if self.b_end <= self.b_start:
            self.b_end += timedelta(days=1)
        self.booking_id = f"B-{self.b_start:%m%d%H%M}-{opts.court}"
        self.until = opts.until or self.b_end + timedelta(minutes=opts.post_end_min + 5)
        clock = SimClock(start, rate=opts.rate)
        self.clock = clock
        self.tl = Timeline(clock, self.tz, self.out)
        try:
            async with open_broker() as broker:
                venue = SimVenue.from_config(
                    opts.config,
                    clock,
                    params=opts.params,
                    workdir=opts.workdir,
                    broker=broker,
                    uplink=(broker.host, broker.port),
                )
                async with venue:
                    return await self._with_venue(venue, broker)
        except BrokerUnavailable as exc:
            print(f"edge-sim demo: {exc}", file=sys.stderr)
            return 1

    async def _with_venue(self, venue: SimVenue, broker: Broker) -> int:
        from sim.cloud import CloudEmulator

        self.venue = venue
        cfg = venue.config
        if self.opts.court not in venue.world.topology.air_of:
            courts = [z.id for z in cfg.zones if z.kind == "court"]
            print(f"edge-sim demo: no zone {self.opts.court!r}; courts: {courts}", file=sys.stderr)
            return 2
        self.tl.note(
            f"edge-sim demo: {cfg.site.name or cfg.site.id} ({cfg.site.id}), simulated "
            f"{self.clock.now().astimezone(self.tz):%Y-%m-%d %H:%M} {self.tz.key} "
            f"at {self.opts.rate:g}x"
        )
        self.tl.note(
            f"  {len(venue.world.devices)} devices on {len(venue.servers)} Modbus buses, "
            f"{len(venue.readers)} reader lines; broker {type(broker).__name__} "
            f"{broker.host}:{broker.port}"
        )
        self.tl.note(f"  runtime config: {venue.runtime_config_path}")
        for note in venue.notes:
            self.tl.note(f"  note: {note}")
        self.tl.note("")
        keys = venue.keys  # the runtime config trusts this run's keys
        async with CloudEmulator(
            broker.host, broker.port, cfg.site.id, cfg.site.gateway, validate=False,
            signing_key=keys.commands, kid=keys.command_kid,
            booking_key=keys.bookings, booking_kid=keys.booking_kid,
        ) as cloud:  # fmt: skip
            self.cloud = cloud
            if self.opts.edged:
                await self._start_edged()
            else:
                self.tl.say("edged not started (--no-edged): devices only")
            try:
                await self._play()
            finally:
                await self._stop_edged()
        self._summary()
        return 0

    async def _publish_booking(self) -> None:
        zone = next(z for z in self.venue.config.zones if z.id == self.opts.court)
        booking = {
            "booking_id": self.booking_id,
            "zone": self.opts.court,
            "start": self.b_start.isoformat(),
            "end": self.b_end.isoformat(),
            "member": "M-1001",
            "plate": PLATE,
            "status": "confirmed",
            "version": 1,
        }
        await self.cloud.publish_snapshot(1, [booking])
        self.tl.say(
            f"cloud: booking {self.booking_id} published: {zone.name or zone.id} "
            f"{self.b_start:%H:%M}-{self.b_end:%H:%M}, member M-1001"
        )

    # ------------------------------------------------------------------ edged
    async def _start_edged(self) -> None:
        cmd = list(self.opts.edged_cmd or (sys.executable, "-m", "edge.daemon"))
        cmd += [
            "--config",
            str(self.venue.runtime_config_path),
            "--sim-start",
            self.clock.now().astimezone(self.tz).isoformat(),
            "--sim-rate",
            f"{self.opts.rate:g}",
            "--log-json",
        ]
        self.edged_log = self.venue.workdir / "edged.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        logf = _open_log(self.edged_log)
        try:
            self.edged_proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=REPO_ROOT, env=env, stdout=logf, stderr=asyncio.subprocess.STDOUT
            )
        finally:
            logf.close()  # the child has its own copy
        self.tl.say(f"edged started (pid {self.edged_proc.pid}), log: {self.edged_log}")

    async def _edged_skew(self) -> float | None:
        """Venue clock minus edged's clock (simulated seconds), from edged's `status`."""
        sock = self.venue.workdir / "run" / "edged.sock"
        try:
            reader, writer = await asyncio.open_unix_connection(str(sock))
        except OSError:
            return None
        try:
            writer.write(b'{"v": 1, "cmd": "status", "args": {}, "user": "edge-sim"}\n')
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 2.0)
            ours = self.clock.now()
            reply = json.loads(line)
            theirs = datetime.fromisoformat(reply["result"]["now"])
            return (ours - theirs).total_seconds()
        except (OSError, TimeoutError, ValueError, KeyError, TypeError):
            return None
        finally:
            writer.close()

    async def _stop_edged(self) -> None:
        proc = self.edged_proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_WAIT_S)
            self.tl.say(f"edged stopped (exit code {proc.returncode})")
        except TimeoutError:
            proc.kill()
            await proc.wait()
            self.seen.edged_killed = True
            self.tl.say(f"edged did not stop within {STOP_WAIT_S:g} s of SIGTERM: killed")

    def _edged_tail(self, n: int = 5) -> list[str]:
        try:
            lines = self.edged_log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return lines[-n:]

    # ------------------------------------------------------------------ the play
    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        real_end = None if self.opts.duration_s is None else loop.time() + self.opts.duration_s
        w = self.venue.world
        topo = w.topology
        court_lights = topo.lights_of.get(self.opts.court, [])
        hall = topo.air_of[self.opts.court]
        hall_units = [
            d for d in w.devices.values() if isinstance(d, FanCoil) and d.air.zone_id == hall
        ]
        gate_id, gate_dev, reader = self._entrance()
        scan_at = self.b_start - timedelta(minutes=3)
        park_gate, barrier, plate_reader = self._car_park()
        plate_at = scan_at - timedelta(minutes=2)  # the member drives in first
        barrier_seen = 0
        last_lit = 0
        last_running: dict[str, tuple[bool, int]] = {}
        write_idx = 0
        pulses_seen = len(gate_dev.pulses) if gate_dev else 0
        cloud_idx: dict[str, int] = {}
        next_temp_report = self.clock.now()
        announced_start = announced_end = False
        probe = asyncio.create_task(self._probe_edged(), name="probe-edged")
        # The booking arrives once edged is up and has read its meters (they are polled
        # every 0.5 s of real time here), as at a venue where edged runs all the time; or
        # after BOOKING_FALLBACK_S regardless.
        publish_by = loop.time() + (BOOKING_FALLBACK_S if self.edged_proc is not None else 0.0)
        published = False
        target = self._target(hall)
        relevant = {d for d, _ in court_lights} | {u.id for u in hall_units}
        if gate_dev is not None:
            relevant.add(gate_dev.id)
        while True:
            now = self.clock.now()
            if now >= self.until or (real_end is not None and loop.time() >= real_end):
                break
            if not published and (
                loop.time() >= publish_by
                or (self.edged_up_at is not None and loop.time() >= self.edged_up_at + 0.6)
            ):
                published = True
                await self._publish_booking()
            w.advance()
            self.seen.meter_samples.append(
                (now, {d.id: d.true_kwh for d in w.devices.values() if isinstance(d, EnergyMeter)})
            )
            # Schedule markers.
            if not announced_start and now >= self.b_start:
                announced_start = True
                self.seen.temp_at_start = w.air[hall].temp_c
                self.tl.say(
                    f"booking {self.booking_id} starts ({hall} at {w.air[hall].temp_c:.1f} C)",
                    self.b_start,
                )
                if self.seen.lights_on_at is None:
                    self.tl.say(f"  ! lights on {self.opts.court} are not on at the start", now)
            if not announced_end and now >= self.b_end:
                announced_end = True
                self.tl.say(f"booking {self.booking_id} ends", self.b_end)
            # Scripted scans: the plate at the car park, then the QR pass at the entrance.
            if (
                self.seen.plate_at is None
                and published
                and now >= plate_at
                and plate_reader is not None
            ):
                self.seen.plate_at = now
                self.venue.scan(plate_reader, PLATE)
                self.tl.say(f"car {PLATE} at {plate_reader} (gate {park_gate})")
            # The pass names the booking: no scan before the booking was published.
            if self.seen.scan_at is None and published and now >= scan_at and reader is not None:
                self._scan(reader, gate_id)
            if barrier is not None:
                for e in barrier.pulses[barrier_seen:]:
                    if (length := e.length_s) is None:
                        break  # still energised
                    barrier_seen += 1
                    self.seen.barrier_pulses.append(length)
                    self.tl.say(
                        f"car-park barrier {barrier.id} lifted: GPIO relay on for {length:.1f} s",
                        e.on_wall,
                    )
            # Edged process.
            proc = self.edged_proc
            if proc is not None and proc.returncode is not None and self.seen.edged_exit is None:
                self.seen.edged_exit = proc.returncode
                self.tl.say(f"edged exited with code {proc.returncode}; last log lines:")
                for line in self._edged_tail():
                    self.tl.note(f"          | {line[:160]}")
            # Writes edged made to the devices of the story.
            while write_idx < len(w.writes):
                rec = w.writes[write_idx]
                write_idx += 1
                shown = {k: v for k, v in rec.values.items() if k != "watchdog"}
                if shown:
                    self.seen.writes += 1
                else:
                    self.seen.heartbeats += 1
                if rec.device in relevant and shown:
                    vals = ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items())
                    self.tl.say(f"edged wrote {rec.device}: {vals}", rec.wall)
            # Lights of the court.
            lit = sum(
                1
                for dev_id, ch in court_lights
                if isinstance(d := w.devices.get(dev_id), LightingController) and d.lit(ch)
            )
            if lit != last_lit:
                watts = sum(
                    d.channel_w(ch)
                    for dev_id, ch in court_lights
                    if isinstance(d := w.devices.get(dev_id), LightingController)
                )
                if lit and not last_lit:
                    self.seen.lights_on_at = self.seen.lights_on_at or now
                    self.tl.say(
                        f"lights ON on {self.opts.court}: {lit}/{len(court_lights)} channels lit, "
                        f"{watts / 1000:.1f} kW"
                    )
                elif not lit:
                    self.seen.lights_off_at = now
                    self.tl.say(f"lights OFF on {self.opts.court}")
                else:
                    self.tl.say(f"{self.opts.court}: {lit}/{len(court_lights)} channels lit")
                last_lit = lit
            # Hall HVAC and temperature.
            for u in hall_units:
                was_running, fallbacks = last_running.get(u.id, (False, 0))
                if u.running != was_running:
                    if u.running:
                        self.seen.hvac_on_at = self.seen.hvac_on_at or now
                        self.tl.say(
                            f"{u.id} running, setpoint {u.setpoint_c:.1f} C ({hall} "
                            f"{u.air.temp_c:.1f} C, outdoor {w.curve.at(now):.1f} C)"
                        )
                    else:
                        self.tl.say(f"{u.id} stopped ({hall} {u.air.temp_c:.1f} C)")
                if u.fallbacks != fallbacks:
                    self.tl.say(
                        f"{u.id}: no BMS watchdog write for {u.params.watchdog_timeout_s:g} s, "
                        f"the unit fell back to its local {u.setpoint_c:.1f} C"
                    )
                last_running[u.id] = (u.running, u.fallbacks)
            temp = w.air[hall].temp_c
            any_running = any(u.running for u in hall_units)
            if self.seen.target_reached_at is None and any_running and abs(temp - target) <= 0.5:
                self.seen.target_reached_at = now
                self.tl.say(f"{hall} reached {temp:.1f} C (target {target:.1f} C)")
            if now >= next_temp_report:
                self.tl.say(
                    f"{hall} {temp:.1f} C, CO2 {w.air[hall].co2_ppm:.0f} ppm, "
                    f"outdoor {w.curve.at(now):.1f} C" + (" (HVAC running)" if any_running else "")
                )
                next_temp_report = now + timedelta(minutes=15)
            # Gate.
            if gate_dev is not None and len(gate_dev.pulses) > pulses_seen:
                for p in gate_dev.pulses[pulses_seen:]:
                    self.seen.gate_opened_at = self.seen.gate_opened_at or p.wall
                    self.tl.say(
                        f"gate {gate_id} opened ({gate_dev.id} relay pulse {p.pulse_s:.1f} s)",
                        p.wall,
                    )
                pulses_seen = len(gate_dev.pulses)
            self._cloud_news(cloud_idx)
            await asyncio.sleep(0.1)
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe

    async def _probe_edged(self) -> None:
        """Once edged's control socket answers, align the venue's wall clock with edged's.

        edged's clock starts when its process has started (its start-up time, times the
        rate, behind the venue's). Moving the venue's wall time (not its monotonic time,
        so physics and timers are untouched) makes both agree on the instant.
        """
        while (proc := self.edged_proc) is not None and proc.returncode is None:
            skew = await self._edged_skew()
            if skew is not None:
                self.tl.say(f"edged is up (its control socket answers), clock skew {skew:+.0f} s")
                if abs(skew) >= 1.0:
                    self.clock.jump(-skew)
                    self.tl.say("venue clock aligned with edged's")
                self.edged_up_at = asyncio.get_running_loop().time()
                return
            await asyncio.sleep(0.2)

    def _entrance(self) -> tuple[str, GateController | None, str | None]:
        """The gate serving the court (and its QR reader)."""
        cfg = self.venue.config
        court_chain = self.venue.world.topology.ancestors(self.opts.court)
        for g in cfg.access.gates:
            if any(z in g.zones for z in court_chain):
                dev = self.venue.world.devices.get(g.device)
                readers = [
                    r.bus_id
                    for r in self.venue.readers.values()
                    if r.gate == g.id and r.role == "qr_scanner"
                ]
                return (
                    g.id,
                    dev if isinstance(dev, GateController) else None,
                    readers[0] if readers else None,
                )
        return ("", None, None)

    def _car_park(self) -> tuple[str, GpioBarrier | None, str | None]:
        """A gate whose relay is on the gateway's GPIO (a simulated barrier), and its plate
        camera line."""
        for g in self.venue.config.access.gates:
            for site in self.venue.gpio_sites.values():
                if g.device in site.barriers:
                    readers = [
                        r.bus_id
                        for r in self.venue.readers.values()
                        if r.gate == g.id and r.role == "plate_camera"
                    ]
                    return g.id, site.barriers[g.device], readers[0] if readers else None
        return "", None, None

    def _target(self, hall: str) -> float:
        for z in self.venue.config.zones:
            if z.id == self.opts.court and z.target_temp_c is not None:
                return z.target_temp_c
        for z in self.venue.config.zones:
            if z.id == hall and z.target_temp_c is not None:
                return z.target_temp_c
        return 25.0

    def _scan(self, reader: str, gate_id: str) -> None:
        self.seen.scan_at = self.clock.now()
        try:
            from edge.access.passes import PassFields, issue_pass
        except ImportError as exc:
            self.tl.say(f"QR scan skipped: cannot issue a pass here ({exc})")
            return
        fields = PassFields(
            pass_id=f"P-{uuid.uuid4().hex[:10]}",
            booking_id=self.booking_id,
            site=self.venue.config.site.id,
            not_before=(self.b_start - timedelta(minutes=30)).replace(microsecond=0),
            expires=self.b_end.replace(microsecond=0),
            entries=1,
            zones=(self.opts.court,),
            gates=(gate_id,),
        )
        keys = self.venue.keys  # the runtime config trusts this run's pass key
        token = issue_pass(keys.passes, keys.pass_kid, fields)
        self.venue.scan(reader, token)
        self.tl.say(
            f"member M-1001 scans QR pass {fields.pass_id} at {reader} (gate {gate_id}, "
            f"{len(token)}-char token)"
        )

    def _cloud_news(self, idx: dict[str, int]) -> None:
        rec = self.cloud.received
        for stream in ("status", "birth", "event", "alarm", "energy", "cmd_res"):
            msgs = rec.get(stream, [])
            start = idx.get(stream, 0)
            for m in msgs[start:]:
                self._cloud_line(stream, m)
            idx[stream] = len(msgs)

    def _cloud_line(self, stream: str, m: dict[str, Any]) -> None:
        if stream in ("status", "birth"):
            if self.seen.edged_online_at is None and (stream == "birth" or m.get("online")):
                self.seen.edged_online_at = self.clock.now()
                self.tl.say(f"cloud: edged online ({stream} received)")
            elif stream == "status" and m.get("online") is False:
                self.tl.say("cloud: edged reported offline")
            return
        kind = str(m.get("kind", ""))
        if stream == "event" and kind.startswith("access"):
            self.seen.access_events.append(m)
            data = m.get("data") or {}
            what = data.get("reason") or data.get("decision") or m.get("message") or kind
            self.tl.say(f"cloud: access event from gate {data.get('gate', '?')}: {what}")
            return
        if stream == "energy":
            self.seen.energy_msgs.append(m)
            if kind == "booking_total":
                self.tl.say(
                    f"cloud: energy for booking {m.get('booking_id')}: {m.get('kwh')} kWh "
                    f"(meters {', '.join(m.get('meters') or {})})"
                )
            return
        if stream == "event":
            self.seen.other_events += 1
            if self.seen.other_events > 20:
                return  # the summary counts them
        body = {k: v for k, v in m.items() if k not in ("_retained", "msg_id", "seq", "session")}
        self.tl.say(f"cloud received {stream}: {_short(body)}")

    # ------------------------------------------------------------------ summary
    def _truth_kwh(self, meters: list[str], start: str, end: str) -> float | None:
        """True kWh of `meters` between two ISO instants (None if not sampled), each meter
        less its sub-meters (a hall's main meter also counts its courts' lighting meters),
        as edged counts them (docs/energy.md)."""
        try:
            t0, t1 = datetime.fromisoformat(start), datetime.fromisoformat(end)
        except ValueError:
            return None
        cfg = self.venue.config
        upstream, _ = upstream_meters(
            {d.id: d.zone for d in cfg.devices if d.profile == "energy_meter"},
            {z.id: z.parent for z in cfg.zones},
            cfg.energy.upstream,
            cfg.energy.nested_meters,
        )
        subs = downstream(upstream)
        total = 0.0
        for m in meters:
            for part, sign in [(m, 1.0), *((s, -1.0) for s in subs.get(m, []))]:
                a = _interpolate(self.seen.meter_samples, part, t0)
                b = _interpolate(self.seen.meter_samples, part, t1)
                if a is None or b is None:
                    return None
                total += sign * (b - a)
        return total

    def _summary(self) -> None:
        s, tl, opts = self.seen, self.tl, self.opts
        w = self.venue.world
        tl.note("")
        tl.note("Summary (what the simulated devices and the cloud emulator saw)")
        pre = self.b_start - timedelta(minutes=opts.pre_start_min)
        off_due = self.b_end + timedelta(minutes=opts.post_end_min)
        reached_end = self.clock.now() >= off_due

        def row(ok: bool | None, text: str) -> None:
            mark = {True: "yes", False: "NO ", None: " - "}[ok]
            tl.note(f"  [{mark}] {text}")

        if s.lights_on_at is not None:
            row(
                s.lights_on_at <= self.b_start,
                f"court lights on at {tl.local(s.lights_on_at)} (expected ~{tl.local(pre)})",
            )
        elif self.clock.now() >= self.b_start:
            row(False, "court lights never came on: no booking-driven write reached the lights")
        else:
            row(None, "court lights: the demo stopped before the booking started")
        if s.temp_at_start is not None:
            row(
                s.temp_at_start <= self._target(w.topology.air_of[opts.court]) + 1.0,
                f"hall at {s.temp_at_start:.1f} C at the booking start "
                f"(target {self._target(w.topology.air_of[opts.court]):.1f} C)"
                + ("" if s.hvac_on_at else "; its HVAC never ran"),
            )
        if s.scan_at is not None:
            row(
                s.gate_opened_at is not None,
                "gate opened for the QR pass"
                if s.gate_opened_at
                else "gate did not open for the QR pass (no relay pulse seen)",
            )
        if s.plate_at is not None:
            row(
                bool(s.barrier_pulses),
                f"car-park barrier (GPIO relay) lifted for plate {PLATE}: "
                + ", ".join(f"{x:.1f} s" for x in s.barrier_pulses)
                if s.barrier_pulses
                else f"car-park barrier did not lift for plate {PLATE}",
            )
        if s.scan_at is not None or s.plate_at is not None:
            row(
                bool(s.access_events) or None,
                f"access events received by the cloud: {len(s.access_events)}",
            )
        if reached_end:
            if s.lights_off_at is not None and s.lights_on_at is not None:
                row(
                    s.lights_off_at >= self.b_end,
                    f"court lights off at {tl.local(s.lights_off_at)} "
                    f"(expected ~{tl.local(off_due)})",
                )
            elif s.lights_on_at is not None:
                row(False, "court lights still on after the grace period")
        row(
            s.edged_online_at is not None if opts.edged else None,
            "edged reported online to the cloud" if s.edged_online_at else "no status from edged",
        )
        if s.edged_exit is not None:
            row(False, f"edged exited early with code {s.edged_exit}")
        if s.edged_killed:
            row(False, f"edged ignored SIGTERM for {STOP_WAIT_S:g} s and was killed")
        tl.note(
            f"  Modbus writes seen by the devices: {s.writes} "
            f"(plus {s.heartbeats} watchdog heartbeats)"
        )
        counts = ", ".join(f"{k} {len(v)}" for k, v in sorted(self.cloud.received.items()))
        tl.note(f"  cloud messages: {counts or 'none'}")
        # Energy ground truth.
        court_meters = [
            d
            for d in w.devices.values()
            if isinstance(d, EnergyMeter)
            and any(x.id == d.id and x.zone == opts.court for x in self.venue.config.devices)
        ]
        for m in court_meters:
            tl.note(f"  energy, {m.id} ({opts.court} lighting), ground truth: {m.true_kwh:.3f} kWh")
        hall = w.topology.air_of[opts.court]
        hvac_kwh = (
            sum(
                w.energy_j.get(d.id, 0.0)
                for d in w.devices.values()
                if isinstance(d, FanCoil) and d.air.zone_id == hall
            )
            / 3.6e6
        )
        tl.note(
            f"  energy, {hall} air handlers (shared by its courts), "
            f"ground truth: {hvac_kwh:.3f} kWh"
        )
        totals = [
            msg
            for msg in s.energy_msgs
            if msg.get("kind") == "booking_total" and msg.get("booking_id") == self.booking_id
        ]
        for msg in totals:
            truth = self._truth_kwh(
                list(msg.get("meters") or {}), str(msg.get("start")), str(msg.get("end"))
            )
            line = f"energy reported by edged for the booking: {msg.get('kwh')} kWh"
            if truth is None or truth <= 0:
                tl.note("  " + line)
                continue
            error = (float(msg.get("kwh", 0.0)) - truth) / truth * 100
            row(
                abs(error) <= 1.0,
                f"{line} from {tl.local(datetime.fromisoformat(str(msg.get('start'))))} to"
                f" {tl.local(datetime.fromisoformat(str(msg.get('end'))))}; ground truth of the"
                f" same meters over the same window: {truth:.3f} kWh ({error:+.2f} %, goal 1 %)",
            )
        if not totals:
            tl.note("  energy reported by edged for the booking: none received")


def _interpolate(
    samples: list[tuple[datetime, dict[str, float]]], meter: str, at: datetime
) -> float | None:
    before = [(t, v[meter]) for t, v in samples if t <= at and meter in v]
    after = [(t, v[meter]) for t, v in samples if t >= at and meter in v]
    if not before and after:
        return after[0][1]  # before the simulation began nothing drew any energy
    if not before or not after:
        return None
    (t0, v0), (t1, v1) = before[-1], after[0]
    if t1 == t0:
        return v0
    return v0 + (v1 - v0) * (at - t0).total_seconds() / (t1 - t0).total_seconds()


def _open_log(path: Path) -> BinaryIO:
    return open(path, "wb")  # handed to the child process, closed by the caller


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def _short(body: dict[str, Any], limit: int = 140) -> str:
    text = json.dumps(body, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def run_demo(opts: DemoOptions, out: TextIO = sys.stdout) -> int:
    demo = Demo(opts, out)
    with contextlib.suppress(asyncio.CancelledError):
        return await demo.run()
    return 130
