"""`edged`: load the venue config, start the components in order, serve until stopped.

Exit codes: 0 clean stop, 78 (EX_CONFIG) bad config or unusable state directory,
74 (EX_IOERR) database that cannot be opened even fresh.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import signal
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import structlog

from edge import logs, memory
from edge.alarms import configure_engine
from edge.automation.reconciler import Cause, Want, same
from edge.bookings.sync import ALARM_CLASS as BOOKINGS_ALARM
from edge.bookings.sync import BookingSync
from edge.clock import Clock, SimClock, SystemClock
from edge.cloud_commands import CurrentVerifier, cloud_handlers
from edge.config.errors import ConfigError
from edge.config.load import check_state_dir
from edge.config.model import Uplink
from edge.feed import Feed
from edge.liveness import Liveness, run_watchdog
from edge.notify import Notifier, watchdog_interval
from edge.ops import Operations, ReloadOutcome
from edge.recorder import Recorder
from edge.storage import StorageError
from edge.storage_watch import StorageAlarms
from edge.stores import Stores, counted_outputs, open_stores
from edge.supervisor import StartFailed, Supervisor
from edge.uplink.booking_auth import CurrentBookingAuth
from edge.uplink.commands import CommandProcessor
from edge.uplink.contract import CmdResBody, Topics
from edge.uplink.inbound import CMD_LANE, FLOOD_ALARM, InboundRouter
from edge.venue import Venue, VenueRef, load_venue
from edge.workers import Services, Spec, plan
from rules.engine import default_values

EX_OK = 0
EX_IOERR = 74
EX_CONFIG = 78
STOP_BUDGET_S = 5.0

log = structlog.get_logger("edge.daemon")


class Daemon:
    """Owns the stores, the supervisor and the venue in force; reload swaps what changed.

    `run()` opens the stores, builds the long-lived services (operations, command
    processor, booking sync, journal recorder, uplink feed) and starts the workers.
    Reloads (SIGHUP, edgectl, the cloud) are all posted to one reload loop of the
    daemon's own, so no component ever runs the reload that may replace it.
    """

    def __init__(self, config_path: Path, venue: Venue, clock: Clock, notifier: Notifier):
        self.config_path = config_path
        self.venue = VenueRef(venue)
        self.clock = clock
        self.notifier = notifier
        # The watchdog is about real time whatever clock the automation runs on.
        self.liveness = Liveness(SystemClock())
        self.supervisor = Supervisor(clock)
        self.started_mono = clock.monotonic()
        self.config_version = 1
        self._specs: dict[str, Spec] = {}
        self._stop = asyncio.Event()
        self._reloads: asyncio.Queue[asyncio.Future[ReloadOutcome] | None] = asyncio.Queue()
        self.stores: Stores | None = None
        """Set while running (for tests and diagnostics; components get theirs injected)."""

    # ---- what the operations layer may ask (edge.ops.DaemonControl) ------------------
    def health(self) -> dict[str, dict[str, object]]:
        return self.supervisor.health()

    async def reload(self) -> ReloadOutcome:
        """Post a reload to the reload loop and wait for its outcome."""
        done: asyncio.Future[ReloadOutcome] = asyncio.get_running_loop().create_future()
        self._reloads.put_nowait(done)
        return await asyncio.shield(done)

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        """SIGHUP: reload without anyone waiting for the outcome."""
        self._reloads.put_nowait(None)

    def _uplink_and_root(self) -> tuple[Uplink, str]:
        """What booking signatures are checked against: `[uplink]` and the topic root."""
        cfg = self.venue.get().config
        return cfg.uplink, Topics(cfg.site.id, cfg.site.gateway).root

    # ---- life ----------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, fn in (
            (signal.SIGTERM, self.request_stop),
            (signal.SIGINT, self.request_stop),
            (signal.SIGHUP, self.request_reload),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, fn)
        try:
            async with open_stores(
                self.venue.get(),
                self.clock,
                liveness=self.liveness,
                extend_timeout=self.notifier.extend_timeout,
            ) as stores:
                self.stores = stores
                return await self._serve(stores)
        except StorageError as exc:
            log.error("storage_unusable", error=str(exc))
            return EX_IOERR
        finally:
            self.stores = None
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def _serve(self, stores: Stores) -> int:
        venue = self.venue.get()
        cfg = venue.config
        ops = Operations(stores, self.venue, self, self.clock)
        sync = BookingSync(
            stores.bookings,
            self.clock,
            zone_known=lambda z: any(z == x.id for x in self.venue.get().config.zones),
            max_duration=lambda: self.venue.get().site.max_booking,
            auth=CurrentBookingAuth(self._uplink_and_root),
            alarm=lambda active, msg: stores.alarms.report(BOOKINGS_ALARM, "bookings", active, msg),
        )

        async def respond(answer: CmdResBody) -> None:
            await stores.outbox.put(answer)

        commands = CommandProcessor(
            stores.db,
            self.clock,
            respond,
            cloud_handlers(ops),
            verifier=CurrentVerifier(self.venue),
            max_payload=cfg.uplink.max_payload,
            max_lifetime_s=lambda: self.venue.get().config.uplink.command_max_lifetime_s,
        )
        router = InboundRouter(
            commands,
            {"bookings": sync.on_snapshot, "bookings/delta": sync.on_delta},
            on_flood=partial(_on_flood, stores),
        )
        feed = Feed(stores, self.venue, sync.reports)
        services = Services(
            self.clock, self.liveness, ops, router, feed, self.venue, lambda: self.config_version
        )
        storage = StorageAlarms(stores, self.clock)
        with Recorder(stores, self.venue), feed, storage:
            # Once the feed and the journal listen: the salvage's alarm goes upstream too.
            storage.report_open(stores.db.report)
            async with router:
                return await self._serve_with(stores, services)

    async def _serve_with(self, stores: Stores, services: Services) -> int:
        t0 = time.monotonic()  # real seconds, whatever clock the venue runs on
        try:
            await self._apply(self.venue.get(), stores, services)
        except StartFailed as exc:
            log.error("start_failed", component=exc.name, error=repr(exc.cause))
            await self.supervisor.stop_all()
            return EX_CONFIG
        startup_s = time.monotonic() - t0
        self.notifier.ready(self.status_line())
        memory.trim()  # what loading the venue and the first cycle left free
        log.info(
            "ready",
            startup_s=round(startup_s, 3),
            components=self.supervisor.names,
            config=str(self.config_path),
            recovered_db=str(stores.db.report.recovered_from or ""),
        )
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._status_loop(), name="status"),
                tg.create_task(self._reload_loop(stores, services), name="reload"),
            ]
            interval = watchdog_interval()
            if interval is not None:
                pinger = run_watchdog(self.notifier, self.liveness, interval)
                tasks.append(tg.create_task(pinger, name="watchdog"))
            await self._stop.wait()
            log.info("stopping")
            self.notifier.stopping()
            for task in tasks:
                task.cancel()
            await self._shutdown(stores)
        return EX_OK

    # ---- applying a venue --------------------------------------------------------------
    def _prepare(self, venue: Venue, stores: Stores) -> None:
        """Point the configurable stores at `venue` (before its workers start)."""
        configure_engine(stores.alarms, venue.config.alarms)
        stores.counters.configure(counted_outputs(venue))

    async def _apply(self, venue: Venue, stores: Stores, services: Services) -> None:
        """Start, replace or stop components so that they match `venue`.

        If a component of the new venue fails to start, everything is put back as it
        was (the new ones stopped, the old ones started again) and StartFailed raised.
        """
        old = self._specs
        wanted = plan(venue, stores, services)
        removed = [n for n in old if n not in wanted]
        changed = [n for n, spec in wanted.items() if n not in old or old[n].key != spec.key]
        stopped: list[str] = []
        started: list[str] = []
        self._prepare(venue, stores)
        try:
            for name in removed[::-1]:
                await self.supervisor.stop(name)
                stopped.append(name)
            for name in changed:
                if name in old:
                    await self.supervisor.stop(name)
                    stopped.append(name)
                await self.supervisor.start(name, wanted[name].make)
                started.append(name)
        except StartFailed:
            for name in started[::-1]:
                await self.supervisor.stop(name)
            self._prepare(self.venue.get(), stores)
            for name in [n for n in old if n in stopped]:
                try:
                    await self.supervisor.start(name, old[name].make)
                except StartFailed as exc:
                    log.error("rollback_start_failed", component=name, error=repr(exc.cause))
            raise
        self._specs = wanted

    async def _reload_loop(self, stores: Stores, services: Services) -> None:
        while True:
            waiter = await self._reloads.get()
            outcome = await self._reload(stores, services)
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)

    async def _reload(self, stores: Stores, services: Services) -> ReloadOutcome:
        """Load the config file again; a bad one is rejected and the old one keeps running."""
        try:
            new = await asyncio.to_thread(load_venue, self.config_path)
        except ConfigError as exc:
            problems = [str(p) for p in exc.problems]
            log.error("config_reload_rejected", problems=problems)
            return ReloadOutcome(False, self.config_version, problems)
        old = self.venue.get().config
        fixed = [
            (what, path)
            for what, path, a, b in (
                ("state directory", "storage.dir", old.storage.dir, new.config.storage.dir),
            )
            if a != b
        ]
        if fixed:
            problems = [f"{p}: the {w} changes only with a restart of edged" for w, p in fixed]
            log.error("config_reload_rejected", problems=problems)
            return ReloadOutcome(False, self.config_version, problems)
        try:
            await self._apply(new, stores, services)
        except StartFailed as exc:
            problems = [f"component '{exc.name}' failed to start: {exc.cause!r}"]
            log.error("config_reload_failed", component=exc.name, error=repr(exc.cause))
            return ReloadOutcome(False, self.config_version, problems)
        self.venue.set(new)
        self.config_version += 1
        stores.link.request_rebirth()
        log.info("config_reloaded", version=self.config_version, components=self.supervisor.names)
        return ReloadOutcome(True, self.config_version)

    # ---- stopping --------------------------------------------------------------------
    async def _safe_outputs(self, stores: Stores, budget_s: float = 2.0) -> None:
        """`on_shutdown = "safe"`: lights and HVAC off before the buses close.

        Level-triggered like everything else: the automation stops, the safe values become
        the wanted state (a life-safety value still wins), and the reconciler writes them.
        """
        values = default_values(self.venue.get().site)  # every light and HVAC enable: off
        await self.supervisor.stop("automation")
        reconciler = stores.outputs
        cause = Cause("shutdown", "safe")
        reconciler.set_wanted({out: Want(v, "shutdown", cause) for out, v in values.items()})

        def pending(output: str) -> bool:
            want, state = reconciler.effective(output), stores.points.get(output)
            return want is not None and (state is None or not same(state.value, want.value))

        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            if not any(pending(o) for o in values) and not reconciler.busy:
                log.info("safe_shutdown_done", outputs=len(values))
                return
            await asyncio.sleep(0.05)
        log.error("safe_shutdown_incomplete", outputs=len(values), budget_s=budget_s)

    async def _shutdown(self, stores: Stores) -> None:
        if self.venue.get().config.site.on_shutdown == "safe":
            await self._safe_outputs(stores)
        # Components flush (outbox, journal) and publish offline status in their own exit.
        try:
            await asyncio.wait_for(self.supervisor.stop_all(STOP_BUDGET_S - 1.0), STOP_BUDGET_S)
        except TimeoutError:
            log.error("stop_budget_exceeded", budget_s=STOP_BUDGET_S)

    def status_line(self) -> str:
        health = self.supervisor.health()
        up = sum(1 for h in health.values() if h["ready"])
        return f"{up}/{len(health)} components ready, config v{self.config_version}"

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(10)
            self.notifier.status(self.status_line())


def _on_flood(stores: Stores, lane: str, active: bool, message: str) -> None:
    stores.alarms.report(FLOOD_ALARM, lane, active, message)
    if not active and lane != CMD_LANE:
        # A snapshot may have been dropped with the flood: subscribing again has the broker
        # re-send the retained one (a dropped command is resent by the cloud, unanswered).
        stores.link.request_resubscribe()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="edged", description="Edge controller daemon for smart venues")
    p.add_argument("--config", required=True, type=Path, help="venue config (TOML)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-json", action="store_true", help="JSON logs even on a terminal")
    p.add_argument(
        "--sim-start",
        type=datetime.fromisoformat,
        metavar="ISO8601",
        help="run on a simulated clock starting here (demo and tests)",
    )
    p.add_argument(
        "--sim-rate",
        type=float,
        default=1.0,
        metavar="X",
        help="simulated clock speed, e.g. 60 for a minute per second",
    )
    return p.parse_args(argv)


def _config_refused(exc: ConfigError) -> None:
    """Every problem on its own log line, so a technician reads them in `journalctl -u edged`."""
    log.error(
        "config_refused",
        source=exc.source,
        problems=len(exc.problems),
        fix="correct the file, then `edgectl config check FILE`",
    )
    for p in exc.problems:
        log.error("config_problem", problem=str(p))


def main(argv: list[str] | None = None) -> int:
    # systemd's watchdog kills a hung daemon with SIGABRT: leave the stuck stack in the journal.
    faulthandler.enable()
    args = _parse_args(argv)
    logs.configure(args.log_level or "info", json=True if args.log_json else None)
    try:
        venue = load_venue(args.config)
    except ConfigError as exc:
        _config_refused(exc)
        return EX_CONFIG
    config = venue.config
    if args.log_level is None:
        logs.configure(config.log_level, json=True if args.log_json else None)
    problems = check_state_dir(config)
    if problems:
        _config_refused(ConfigError(str(args.config), problems))
        return EX_CONFIG
    clock: Clock = SystemClock()
    if args.sim_start is not None:
        if args.sim_start.tzinfo is None:
            log.error(
                "bad_argument",
                argument="--sim-start",
                problem="needs a timezone, e.g. 2026-11-21T18:50:00+08:00",
            )
            return EX_CONFIG
        clock = SimClock(args.sim_start, rate=args.sim_rate)
    notifier = Notifier()
    memory.one_arena()  # before the SQLite thread starts
    try:
        return asyncio.run(Daemon(args.config, venue, clock, notifier).run())
    finally:
        notifier.close()


if __name__ == "__main__":
    sys.exit(main())
