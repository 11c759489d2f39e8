"""edgectl entry point: parse arguments, run one command, exit with a reliable code.

Exit codes: 0 ok, 1 the daemon refused or a check failed, 2 bad arguments,
3 the daemon is not running or not reachable, 78 a config file with problems.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.cli import modbus, offline
from edge.cli.client import DaemonRefused, DaemonUnavailable, call
from edge.cli.render import render
from edge.config.errors import ConfigError
from edge.venue import load_venue

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DAEMON, EXIT_CONFIG = 0, 1, 2, 3, 78
DEFAULT_RUNTIME = Path("/run/edged")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(Exception):
    """Bad arguments; the message says what to type instead."""


def parse_duration(text: str) -> float:
    """'30m', '2h', '1h30m', '90s' -> seconds."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise UsageError(f"cannot read duration '{text}': write e.g. 30m, 2h, 1h30m or 90s")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def parse_value(text: str) -> bool | int | float:
    low = text.strip().lower()
    if low in ("on", "true", "open", "1"):
        return True if low != "1" else 1
    if low in ("off", "false", "closed", "0"):
        return False if low != "0" else 0
    try:
        number = float(low)
    except ValueError:
        raise UsageError(
            f"cannot read value '{text}': write on/off, true/false or a number"
        ) from None
    return int(number) if number.is_integer() and "." not in low else number


def _installed_version() -> str:
    """edged's version from the installed distribution's metadata (the wheel or .deb's)."""
    try:
        return importlib.metadata.version("edged")
    except importlib.metadata.PackageNotFoundError:  # run from a bare source tree
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgectl",
        description="Diagnose and operate edged. Exit codes: 0 ok, 1 refused, 2 usage, "
        "3 daemon not running, 78 bad config.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_installed_version()}")
    p.add_argument(
        "--runtime-dir",
        type=Path,
        default=DEFAULT_RUNTIME,
        help="where edged's socket lives (default /run/edged)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--wide",
        action="store_true",
        help="tables show every column whole (by default, at a narrow terminal, other "
        "columns are shortened or hidden first; ids are never cut)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for edged")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("status", help="daemon health at a glance").add_argument(
        "--watch", action="store_true", help="refresh every 2 s"
    )
    sub.add_parser("ping", help="is edged answering?")
    sub.add_parser("reload", help="reload the config file (like SIGHUP)")
    sub.add_parser("devices", help="devices and whether they answer")
    pts = sub.add_parser("points", help="live point values")
    pts.add_argument("--device")
    pts.add_argument("--zone")
    pts.add_argument("--watch", action="store_true", help="refresh every 2 s")
    sub.add_parser("read", help="one point's value").add_argument("point", metavar="DEVICE.POINT")
    wr = sub.add_parser("write", help="manual override of an output, always with an expiry")
    wr.add_argument("point", metavar="DEVICE.POINT")
    wr.add_argument("value", help="on/off, true/false or a number")
    wr.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help="how long, e.g. 30m or 2h (required: overrides always expire)",
    )
    wr.add_argument("--reason", default="")
    sub.add_parser("release", help="end a manual override now").add_argument(
        "point", metavar="DEVICE.POINT"
    )
    sub.add_parser("explain", help="why an output has its value").add_argument(
        "point", metavar="DEVICE.POINT"
    )
    bk = sub.add_parser("bookings", help="bookings known locally")
    bk.add_argument("--zone")
    bk.add_argument("--date", help="local date, YYYY-MM-DD")
    jr = sub.add_parser("journal", help="what the gateway did and why (audit trail)")
    jr.add_argument("--since", help="ISO time (2026-11-21T19:00+08:00) or a duration ago (2h)")
    jr.add_argument("--until", help="ISO time")
    for key in ("device", "zone", "booking", "kind"):
        jr.add_argument(f"--{key}")
    jr.add_argument("--limit", type=int, default=200)
    al = sub.add_parser("alarms", help="open alarms; `alarms ack ID` acknowledges one")
    al.add_argument("action", nargs="?", choices=["ack"])
    al.add_argument("id", nargs="?", help="alarm id, e.g. door_forced:gate-2")
    en = sub.add_parser("energy", help="energy per booking, or per zone and day")
    en.add_argument("--booking")
    en.add_argument("--zone")
    en.add_argument("--day", help="local date, YYYY-MM-DD")
    co = sub.add_parser(
        "counters",
        help="run hours and switch cycles per output; `counters reset OUTPUT` after service",
    )
    co.add_argument("action", nargs="?", choices=["reset"])
    co.add_argument("output", nargs="?", help="output, e.g. lights-a3.ch1_on")
    sub.add_parser("outbox", help="messages waiting for the cloud, per stream")
    gt = sub.add_parser("gate", help="gate actions (journaled with your user name)")
    gt.add_argument("action", choices=["open"])
    gt.add_argument("gate")
    ac = sub.add_parser("access", help="recent access decisions")
    ac.add_argument("--gate")
    ac.add_argument("--since", default="24h", help="a duration ago, e.g. 2h (default 24h)")
    em = sub.add_parser("emergency", help="fire-alarm linkage state")
    em.add_argument("action", choices=["status", "reset"])
    modbus.add_parser(sub)
    offline.add_parsers(sub)
    sub.add_parser(
        "completion", help="print a bash completion script: source <(edgectl completion)"
    )
    cfg = sub.add_parser("config", help="offline config tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    cfg_sub.add_parser("check", help="validate a venue config file").add_argument("file", type=Path)
    return p


def _config_check(args: argparse.Namespace) -> int:
    try:
        cfg = load_venue(args.file).config
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
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{args.file}: ok ({len(cfg.zones)} zones, {len(cfg.buses)} buses, "
            f"{len(cfg.devices)} devices)"
        )
    return EXIT_OK


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    c = args.command
    if c in ("status", "ping", "reload", "devices"):
        return c, {}
    if c == "points":
        return c, {k: v for k, v in (("device", args.device), ("zone", args.zone)) if v}
    if c in ("read", "release", "explain"):
        return c, {"point": args.point}
    if c == "write":
        if args.duration is None:
            raise UsageError(
                f"a manual override needs an expiry: edgectl write {args.point} {args.value} "
                "--for 30m (it returns to its schedule afterwards)"
            )
        return c, {
            "point": args.point,
            "value": parse_value(args.value),
            "for_s": parse_duration(args.duration),
            "reason": args.reason,
        }
    if c == "bookings":
        return c, {k: v for k, v in (("zone", args.zone), ("date", args.date)) if v}
    if c == "journal":
        payload: dict[str, Any] = {
            k: getattr(args, k)
            for k in ("until", "device", "zone", "booking", "kind", "limit")
            if getattr(args, k) is not None
        }
        if args.since is not None:
            if _DURATION.match(args.since.strip().lower()):
                payload["since_ago_s"] = parse_duration(args.since)
            else:
                payload["since"] = args.since
        return c, payload
    if c == "alarms":
        if args.action == "ack":
            if not args.id:
                raise UsageError("which alarm? edgectl alarms ack ID (ids are in `edgectl alarms`)")
            return "alarms_ack", {"id": args.id}
        return "alarms", {}
    if c == "energy":
        return c, {k: getattr(args, k) for k in ("booking", "zone", "day") if getattr(args, k)}
    if c == "counters" and args.action == "reset":
        if not args.output:
            raise UsageError("which output? edgectl counters reset OUTPUT (see `edgectl counters`)")
        return "counters_reset", {"output": args.output}
    if c in ("counters", "outbox"):
        return c, {}
    if c == "gate":
        return "gate_open", {"gate": args.gate}
    if c == "access":
        payload = {"since_ago_s": parse_duration(args.since)}
        if args.gate:
            payload["gate"] = args.gate
        return c, payload
    if c == "emergency":
        return f"emergency_{args.action}", {}
    raise UsageError(f"unknown command {c}")


def _once(
    args: argparse.Namespace, cmd: str, payload: dict[str, Any], show: Callable[[str, Any], None]
) -> int:
    try:
        result = call(args.runtime_dir, cmd, payload, args.timeout)
    except DaemonUnavailable as exc:
        print(f"edgectl: {exc}", file=sys.stderr)
        return EXIT_NO_DAEMON
    except DaemonRefused as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), "hint": exc.hint}))
        else:
            hint = f"\n  next: {exc.hint}" if exc.hint else ""
            print(f"edgectl: {exc}{hint}", file=sys.stderr)
        return EXIT_FAILED
    show(cmd, result)
    return EXIT_OK


def completion_script(parser: argparse.ArgumentParser) -> str:
    """Bash completion for commands and their options, from the parser itself."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cases = []
    for name, p in sub.choices.items():
        words = [o for a in p._actions for o in a.option_strings if o.startswith("--")]
        words += [
            c
            for a in p._actions
            if a.choices and not a.option_strings
            for c in a.choices
            if isinstance(c, str)
        ]
        cases.append(f'        {name}) opts="{" ".join(sorted(set(words)))}" ;;')
    commands = " ".join(sub.choices)
    return "\n".join(
        [
            "_edgectl() {",
            '    local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" i',
            "    for ((i = 1; i < COMP_CWORD; i++)); do",
            '        [[ "${COMP_WORDS[i]}" != -* ]] && { cmd="${COMP_WORDS[i]}"; break; }',
            "    done",
            '    local opts="--json --runtime-dir --timeout"',
            f'    [[ -z "$cmd" ]] && opts="$opts {commands}"',
            '    case "$cmd" in',
            *cases,
            "    esac",
            '    COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
            "}",
            "complete -F _edgectl edgectl",
        ]
    )


def _offline(args: argparse.Namespace) -> int:
    try:
        if args.command == "gpio":
            result = offline.run_gpio(args, parse_duration(args.duration))
        else:
            result = modbus.run(args, parse_value)
    except (UsageError, modbus.ModbusUsage, offline.OfflineError, DaemonUnavailable) as exc:
        print(f"edgectl: {exc}", file=sys.stderr)
        if isinstance(exc, DaemonUnavailable):
            return EXIT_NO_DAEMON
        return EXIT_USAGE if isinstance(exc, UsageError | modbus.ModbusUsage) else EXIT_FAILED
    except DaemonRefused as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), "hint": exc.hint}))
        else:
            hint = f"\n  next: {exc.hint}" if exc.hint else ""
            print(f"edgectl: {exc}{hint}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        render(f"{args.command}", result, args.wide)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `edgectl journal | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config":
        return _config_check(args)
    if args.command == "completion":
        print(completion_script(_parser()))
        return EXIT_OK
    if args.command in ("modbus", "gpio"):
        return _offline(args)
    try:
        cmd, payload = _request(args)
    except UsageError as exc:
        print(f"edgectl: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def show(cmd: str, result: Any) -> None:
        if args.json:
            print(json.dumps(result, indent=2, sort_keys=True, default=str))
        else:
            render(cmd, result, args.wide)

    if not getattr(args, "watch", False):
        return _once(args, cmd, payload, show)
    try:
        while True:
            print("\033[2J\033[H", end="")
            code = _once(args, cmd, payload, show)
            if code != EXIT_OK:
                return code
            time.sleep(2)
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
