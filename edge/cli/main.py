"""edgectl entry point: parse arguments, run one command, exit with a reliable code.

Exit codes: 0 ok, 1 the daemon refused or the check failed, 2 bad arguments,
3 the daemon is not running or not reachable, 78 a config file with problems.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.cli.client import DaemonRefused, DaemonUnavailable, call
from edge.config.errors import ConfigError
from edge.config.load import load
from edge.profiles import profile_points

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DAEMON, EXIT_CONFIG = 0, 1, 2, 3, 78
DEFAULT_RUNTIME = Path("/run/edged")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgectl", description="Diagnose and operate edged")
    p.add_argument(
        "--runtime-dir",
        type=Path,
        default=DEFAULT_RUNTIME,
        help="where edged's socket lives (default /run/edged)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for edged")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("status", help="daemon health at a glance")
    sub.add_parser("ping", help="is edged answering?")
    sub.add_parser("reload", help="reload the config file (like SIGHUP)")
    cfg = sub.add_parser("config", help="offline config tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = cfg_sub.add_parser("check", help="validate a venue config file")
    check.add_argument("file", type=Path)
    return p


def _print(args: argparse.Namespace, result: Any) -> None:
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    elif isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        for key, value in result.items():
            shown = json.dumps(value, default=str) if isinstance(value, dict | list) else value
            print(f"{key:<{width}}  {shown}")
    else:
        print(result)


def _config_check(args: argparse.Namespace) -> int:
    try:
        cfg = load(args.file, profile_points)
    except ConfigError as exc:
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": False,
                        "problems": [
                            {"path": p.path, "message": p.message, "hint": p.hint}
                            for p in exc.problems
                        ],
                    }
                )
            )
        else:
            print(exc, file=sys.stderr)
        return EXIT_CONFIG
    summary = {
        "ok": True,
        "site": cfg.site.id,
        "zones": len(cfg.zones),
        "buses": len(cfg.buses),
        "devices": len(cfg.devices),
    }
    _print(
        args,
        summary
        if args.json
        else f"{args.file}: ok ({len(cfg.zones)} zones, "
        f"{len(cfg.buses)} buses, {len(cfg.devices)} devices)",
    )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config":
        return _config_check(args)
    try:
        result = call(args.runtime_dir, args.command, {}, args.timeout)
    except DaemonUnavailable as exc:
        print(f"edgectl: {exc}", file=sys.stderr)
        return EXIT_NO_DAEMON
    except DaemonRefused as exc:
        hint = f"\n  hint: {exc.hint}" if exc.hint else ""
        print(f"edgectl: {exc}{hint}", file=sys.stderr)
        return EXIT_FAILED
    _print(args, result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
