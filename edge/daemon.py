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
from pathlib import Path

import structlog

from edge import logs
from edge.assembly import Runtime, plan
from edge.automation.reconciler import Want, same
from edge.clock import Clock, SimClock, SystemClock
from edge.config.errors import ConfigError
from edge.config.load import check_state_dir, load
from edge.config.model import VenueConfig
from edge.liveness import Liveness, run_watchdog
from edge.notify import Notifier, watchdog_interval
from edge.profiles import profile_points
from edge.storage import Database, StorageError
from edge.supervisor import StartFailed, Supervisor
from rules.engine import default_values

EX_OK = 0
EX_IOERR = 74
EX_CONFIG = 78
STOP_BUDGET_S = 5.0

log = structlog.get_logger("edge.daemon")


class Daemon:
    """Owns the supervisor, the database and the config; reload swaps what changed."""

    def __init__(self, config_path: Path, config: VenueConfig, clock: Clock, notifier: Notifier):
        self.config_path = config_path
        self.config = config
        self.clock = clock
        self.notifier = notifier
        # The watchdog is about real time whatever clock the automation runs on.
        self.liveness = Liveness(SystemClock())
        self.supervisor = Supervisor(clock)
        self.started_mono = clock.monotonic()
        self.config_version = 1
        self._keys: dict[str, bytes] = {}
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.runtime: Runtime | None = None

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def run(self) -> int:
        db_path = Path(self.config.storage.dir) / "edged.db"
        try:
            db = await asyncio.to_thread(Database.open, db_path)
        except StorageError as exc:
            log.error("storage_unusable", error=str(exc))
            return EX_IOERR
        self.runtime = await Runtime.create(self, db)
        loop = asyncio.get_running_loop()
        for sig, fn in (
            (signal.SIGTERM, self.request_stop),
            (signal.SIGINT, self.request_stop),
            (signal.SIGHUP, self.request_reload),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, fn)
        try:
            return await self._serve(db)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(db.close)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def _serve(self, db: Database) -> int:
        assert self.runtime is not None
        t0 = time.monotonic()  # real seconds, whatever clock the venue runs on
        try:
            await self._apply(self.config)
        except StartFailed as exc:
            log.error("start_failed", component=exc.name, error=repr(exc.cause))
            await self.supervisor.stop_all()
            return EX_CONFIG
        startup_s = time.monotonic() - t0
        self.notifier.ready(self.status_line())
        log.info(
            "ready",
            startup_s=round(startup_s, 3),
            components=self.supervisor.names,
            config=str(self.config_path),
            recovered_db=str(db.report.recovered_from or ""),
        )
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._status_loop(), name="status"),
                tg.create_task(self._reload_loop(), name="reload"),
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
            await self._shutdown()
        return EX_OK

    async def _safe_outputs(self, budget_s: float = 2.0) -> None:
        """`on_shutdown = "safe"`: lights and HVAC off before the buses close.

        Level-triggered like everything else: the automation stops, the safe values become
        the wanted state (a life-safety value still wins), and the reconciler writes them.
        """
        rt = self.runtime
        if rt is None or rt.reconciler is None or rt.automation is None:
            return
        values = default_values(rt.automation.site)  # every light and HVAC enable: off
        await self.supervisor.stop("automation")
        rt.reconciler.set_wanted(
            {out: Want(v, "shutdown", "shutdown:safe") for out, v in values.items()}
        )
        reconciler = rt.reconciler

        def pending(output: str) -> bool:
            want, state = reconciler.effective(output), rt.points.get(output)
            return want is not None and (state is None or not same(state.value, want.value))

        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            if not any(pending(o) for o in values) and not reconciler.busy:
                log.info("safe_shutdown_done", outputs=len(values))
                return
            await asyncio.sleep(0.05)
        log.error("safe_shutdown_incomplete", outputs=len(values), budget_s=budget_s)

    async def _shutdown(self) -> None:
        if self.config.site.on_shutdown == "safe":
            await self._safe_outputs()
        # Components flush (outbox, journal) and publish offline status in their own exit.
        try:
            await asyncio.wait_for(self.supervisor.stop_all(STOP_BUDGET_S - 1.0), STOP_BUDGET_S)
        except TimeoutError:
            log.error("stop_budget_exceeded", budget_s=STOP_BUDGET_S)

    async def _apply(self, config: VenueConfig) -> None:
        """Start, replace or stop components so that they match `config`."""
        assert self.runtime is not None
        wanted = plan(config, self.runtime)
        for name in [n for n in self._keys if n not in wanted][::-1]:
            await self.supervisor.stop(name)
            del self._keys[name]
        for name, spec in wanted.items():
            if self._keys.get(name) == spec.key:
                continue
            await self.supervisor.replace(spec.make())
            self._keys[name] = spec.key

    async def _reload_loop(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Load the config file again; a bad one is rejected and the old one keeps running."""
        try:
            new = await asyncio.to_thread(load, self.config_path, profile_points)
        except ConfigError as exc:
            log.error("config_reload_rejected", problems=[str(p) for p in exc.problems])
            return False
        old = self.config
        self.config = new
        try:
            await self._apply(new)
        except StartFailed as exc:
            log.error("config_reload_failed", component=exc.name, error=repr(exc.cause))
            self.config = old
            await self._apply(old)
            return False
        self.config_version += 1
        log.info("config_reloaded", version=self.config_version, components=self.supervisor.names)
        return True

    def status_line(self) -> str:
        health = self.supervisor.health()
        up = sum(1 for h in health.values() if h["ready"])
        return f"{up}/{len(health)} components ready, config v{self.config_version}"

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(10)
            self.notifier.status(self.status_line())


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
        config = load(args.config, profile_points)
    except ConfigError as exc:
        _config_refused(exc)
        return EX_CONFIG
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
    try:
        return asyncio.run(Daemon(args.config, config, clock, notifier).run())
    finally:
        notifier.close()


if __name__ == "__main__":
    sys.exit(main())
