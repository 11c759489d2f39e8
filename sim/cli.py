"""`edge-sim`: run a simulated venue, inject faults into it, or play the demo.

    edge-sim run --config examples/venue.toml [--params examples/venue.sim.toml]
                 [--rate 60] [--start ISO8601] [--scale N] [--socket PATH] [--broker]
    edge-sim fault [--socket PATH] KIND [TARGET] [NAME=VALUE ...] [on|off]
    edge-sim fault --list
    edge-sim scan [--socket PATH] READER PAYLOAD
    edge-sim truth [--socket PATH]
    edge-sim demo [--config examples/venue.toml] [--rate 60] [--duration S | --until HH:MM]

Exit codes: 0 done, 1 runtime failure, 2 bad request (unknown fault, target or
parameter: the message lists the valid choices), 78 bad config.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from edge.clock import SimClock
from edge.config.errors import ConfigError

from .control import default_socket_path, request, serve_control
from .errors import FaultError, SimConfigError, SimError
from .faults import describe, parse_cli_params

if TYPE_CHECKING:
    from .broker import Broker

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "examples" / "venue.toml"
DEFAULT_PARAMS = REPO_ROOT / "examples" / "venue.sim.toml"
EX_USAGE = 2
EX_CONFIG = 78


def _quiet_logs(level: int = logging.WARNING) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone, e.g. 2026-07-15T18:45+08:00")
    return value


def _params_default(config: Path, given: Path | None) -> Path | None:
    """`--params` if given; else `<config stem>.sim.toml` beside the config when it exists."""
    if given is not None:
        return given
    beside = config.with_name(config.stem + ".sim.toml")
    return beside if beside.is_file() else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-sim", description="Simulated venue for edged")
    sub = p.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="serve a venue's devices until stopped")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument("--params", type=Path, help="physics parameters (default: <config>.sim.toml)")
    run.add_argument("--rate", type=float, default=1.0, help="simulated seconds per real second")
    run.add_argument("--start", type=_aware, help="simulated start (default: now)")
    run.add_argument("--scale", type=int, default=1, help="multiply the venue N times")
    run.add_argument("--socket", type=Path, default=None, help="control socket path")
    run.add_argument("--workdir", type=Path, help="where ptys and the runtime config go")
    run.add_argument("--broker", action="store_true", help="also start an MQTT broker")

    fault = sub.add_parser("fault", help="inject or clear a fault in a running simulator")
    fault.add_argument("--socket", type=Path, default=None)
    fault.add_argument("--list", action="store_true", help="list the fault kinds")
    fault.add_argument("kind", nargs="?")
    fault.add_argument("target", nargs="?")
    fault.add_argument("params", nargs="*", help="NAME=VALUE ... or on/off")

    scan = sub.add_parser("scan", help="a reader reads a code (QR token, member id, plate)")
    scan.add_argument("--socket", type=Path, default=None)
    scan.add_argument("reader")
    scan.add_argument("payload")

    truth = sub.add_parser("truth", help="print the running venue's ground truth (JSON)")
    truth.add_argument("--socket", type=Path, default=None)

    demo = sub.add_parser("demo", help="the whole venue with edged and a live timeline")
    demo.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    demo.add_argument("--params", type=Path)
    demo.add_argument("--rate", type=float, default=60.0)
    demo.add_argument("--start", type=_aware, help="simulated start (default 17:35 local)")
    demo.add_argument("--court", default="court-a3", help="the booked zone")
    demo.add_argument("--duration", type=float, help="stop after this many real seconds")
    demo.add_argument("--until", help="stop at this simulated local time (HH:MM) or ISO instant")
    demo.add_argument("--no-edged", action="store_true", help="devices, broker and cloud only")
    demo.add_argument(
        "--edged-cmd", help="command that runs edged (default: python -m edge.daemon)"
    )
    demo.add_argument("--workdir", type=Path)
    return p


async def _run(args: argparse.Namespace) -> int:
    from .venue import SimVenue

    start = args.start or datetime.now(UTC)
    clock = SimClock(start, rate=args.rate)
    sock = args.socket or default_socket_path()
    params = _params_default(args.config, args.params)
    async with contextlib.AsyncExitStack() as stack:
        broker: Broker | None = None
        uplink: tuple[str, int] | None = None
        if args.broker:
            from .broker import open_broker

            broker = await stack.enter_async_context(open_broker())
            uplink = (broker.host, broker.port)
        venue = SimVenue.from_config(
            args.config,
            clock,
            params=params,
            scale=args.scale,
            workdir=args.workdir,
            broker=broker,
            uplink=uplink,
        )
        await stack.enter_async_context(venue)
        await stack.enter_async_context(serve_control(venue, sock))
        print(f"edge-sim: {len(venue.world.devices)} devices running at {args.rate:g}x")
        print(f"  runtime config: {venue.runtime_config_path}")
        print(f"  control socket: {sock}")
        if broker is not None:
            print(f"  broker: {broker.host}:{broker.port}")
        for bus_id, server in venue.servers.items():
            where = (
                server.client_port if server.kind == "rtu_pty" else f"{server.host}:{server.port}"
            )
            print(f"  bus {bus_id}: {server.kind} {where} ({len(server.units)} units)")
        for reader in venue.readers.values():
            print(f"  reader {reader.bus_id}: {reader.role} {reader.path}")
        for note in venue.notes:
            print(f"  note: {note}")
        print("  stop with Ctrl-C", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return 0


async def _remote(sock: Path | None, req: dict[str, Any]) -> int:
    reply = await request(sock or default_socket_path(), req)
    if reply.get("ok"):
        result = reply.get("result")
        print(result if isinstance(result, str) else json.dumps(result, indent=2))
        return 0
    print(f"edge-sim: {reply.get('error')}", file=sys.stderr)
    return EX_USAGE


def _until(text: str | None, start: datetime | None, tz_config: Path) -> datetime | None:
    if text is None:
        return None
    if len(text) <= 5 and ":" in text:
        from zoneinfo import ZoneInfo

        from edge.config.load import load
        from edge.profiles import profile_points

        from .demo import DEFAULT_DATE

        tz = ZoneInfo(load(tz_config, profile_points).site.timezone)
        day = start or datetime.fromisoformat(f"{DEFAULT_DATE}T12:00").replace(tzinfo=tz)
        return datetime.combine(day.astimezone(tz).date(), time.fromisoformat(text), tz)
    return _aware(text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "run":
            _quiet_logs()
            return asyncio.run(_run(args))
        if args.cmd == "fault":
            if args.list or not args.kind:
                print(describe())
                return 0
            params: dict[str, Any] = parse_cli_params(args.params)
            req = {"op": "fault", "kind": args.kind, "target": args.target, "params": params}
            return asyncio.run(_remote(args.socket, req))
        if args.cmd == "scan":
            req = {"op": "scan", "reader": args.reader, "payload": args.payload}
            return asyncio.run(_remote(args.socket, req))
        if args.cmd == "truth":
            return asyncio.run(_remote(args.socket, {"op": "truth"}))
        if args.cmd == "demo":
            from .demo import DemoOptions, run_demo

            _quiet_logs(logging.ERROR)
            opts = DemoOptions(
                config=args.config,
                params=_params_default(args.config, args.params),
                rate=args.rate,
                start=args.start,
                court=args.court,
                duration_s=args.duration,
                until=_until(args.until, args.start, args.config),
                edged=not args.no_edged,
                edged_cmd=tuple(args.edged_cmd.split()) if args.edged_cmd else None,
                workdir=args.workdir,
            )
            return asyncio.run(run_demo(opts))
    except FaultError as exc:
        print(f"edge-sim: {exc}", file=sys.stderr)
        return EX_USAGE
    except (ConfigError, SimConfigError) as exc:
        print(f"edge-sim: {exc}", file=sys.stderr)
        return EX_CONFIG
    except SimError as exc:
        print(f"edge-sim: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edge-sim truth | head`
        return 0
    return EX_USAGE


if __name__ == "__main__":
    sys.exit(main())
