"""`edgectl modbus read|write|scan`: through edged's own bus when it runs, else direct.

While edged runs it owns every Modbus link (an RTU port cannot be opened twice, and two
masters on one RS-485 line corrupt each other's frames), so reads and writes of a
configured device are sent to edged, which queues them between its polls. Only when
edged is not running does edgectl open the link itself, and says so. Addresses are
1-based references, as mbpoll and device manuals count (`--zero-based` for protocol
addresses).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from drivers.modbus.points import Table
from drivers.modbus.raw import read_function, write_function
from edge.cli.client import DaemonNotRunning, call
from edge.cli.offline import OfflineError, run_modbus

EXAMPLES = """\
Addresses are 1-based references, as mbpoll and register maps count: --address 1
is the first register (protocol address 0); --zero-based takes protocol
addresses.
While edged runs, reads and writes of a configured device go through its bus,
between its polls (RTU works); when it is not running, edgectl opens the link
itself and says so. A write to a register of an output the reconciler drives is
refused unless --force; every write is journaled with your name.

examples:
  edgectl modbus read --ref fcu-reading1.setpoint
  edgectl modbus read --device fcu-reading1 --address 1 --count 3
  edgectl modbus read --device lights-a3 --table coil --address 1 --count 8
  edgectl modbus write --device fcu-reading1 --address 51 0
  edgectl modbus write --ref lights-a3.ch1_on on --force --reason "relay test"
  edgectl modbus read --config /etc/edge/venue.toml --ref fcu-reading1.setpoint
  edgectl modbus read --rtu /dev/ttyUSB0 --unit 3 --address 1    (no edged)
  edgectl modbus scan --tcp 192.168.1.20:502 --from 1 --to 32
"""

_TABLES = ["coil", "discrete", "holding", "input"]


def add_parser(sub: Any) -> None:
    mb = sub.add_parser(
        "modbus",
        help="raw Modbus: through edged's bus while it runs, else direct",
        description=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mb_sub = mb.add_subparsers(dest="modbus_command", required=True, metavar="ACTION")
    for name, text in (
        ("read", "read registers, coils or a device's point"),
        ("write", "write registers, coils or a device's point (journaled)"),
        ("scan", "find the unit ids that answer on a bus (direct; edged stopped)"),
    ):
        p = mb_sub.add_parser(
            name,
            help=text,
            description=EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        where = p.add_argument_group("link, for direct access (edged stopped, or --direct)")
        where.add_argument("--config", type=Path, help="venue config, with --bus or --device")
        where.add_argument("--bus", help="bus id from the config")
        where.add_argument("--tcp", metavar="HOST:PORT", help="a Modbus TCP device or gateway")
        where.add_argument("--rtu", metavar="PORT", help="a serial port, e.g. /dev/ttyUSB0")
        where.add_argument("--baud", type=int, default=19200)
        where.add_argument("--parity", choices=["N", "E", "O"], default="E")
        where.add_argument("--unit", type=int, help="unit id 1..247 (without --device)")
        p.add_argument(
            "--direct",
            action="store_true",
            help="open the link even while edged owns it (two masters on one line)",
        )
        p.add_argument("--timeout-s", type=float, default=1.0)
        p.add_argument("--zero-based", action="store_true", help="--address is 0-based")
        if name == "scan":
            p.add_argument("--from", dest="first", type=int, default=1)
            p.add_argument("--to", dest="last", type=int, default=247)
            p.add_argument("--table", choices=_TABLES, default="holding")
            p.add_argument("--address", type=int, default=1, help="register to probe (default 1)")
            continue
        p.add_argument("--ref", metavar="DEVICE.POINT", help="a point of a configured device")
        p.add_argument("--device", help="device id from the config (its bus and unit id)")
        p.add_argument("--point", help="a profile point of --device (same as --ref D.P)")
        p.add_argument(
            "--table", choices=_TABLES, default="holding", help="default holding (FC3/FC6/FC16)"
        )
        p.add_argument("--address", type=int, help="first reference, 1-based (see above)")
        if name == "read":
            p.add_argument("--count", type=int, default=1)
        else:
            p.add_argument("values", nargs="+", metavar="VALUE", help="on/off or numbers")
            p.add_argument(
                "--force",
                action="store_true",
                help="write even a register of an output the reconciler drives",
            )
            p.add_argument("--reason", default="", help="why (goes into the journal)")


class ModbusUsage(Exception):
    """Bad arguments; the message says what to type instead."""


def protocol_address(args: argparse.Namespace, address: int | None) -> int | None:
    """The protocol address (0-based) of what was typed."""
    if address is None or args.zero_based:
        return address
    if address < 1:
        raise ModbusUsage(
            f"--address {address}: references are 1-based (the first register is 1); "
            "pass --zero-based to give protocol addresses"
        )
    return address - 1


def _ref(args: argparse.Namespace) -> str | None:
    if getattr(args, "ref", None):
        if "." not in args.ref:
            raise ModbusUsage(f"--ref {args.ref}: write DEVICE.POINT, e.g. hvac-a.setpoint")
        return str(args.ref)
    if getattr(args, "device", None) and getattr(args, "point", None):
        return f"{args.device}.{args.point}"
    return None


def daemon_request(args: argparse.Namespace, parse_value: Any) -> tuple[str, dict[str, Any]] | None:
    """The request for edged, or None when the command names no configured device."""
    if args.modbus_command == "scan" or args.direct:
        return None
    ref = _ref(args)
    write = args.modbus_command == "write"
    if ref is not None:
        if not write:
            return "modbus_read", {"ref": ref}
        if len(args.values) != 1:
            raise ModbusUsage("--ref writes one value; use --device and --address for several")
        value = parse_value(args.values[0])
        return "modbus_write", {
            "ref": ref,
            "value": value,
            "force": args.force,
            "reason": args.reason,
        }
    if not args.device:
        return None
    if args.address is None:
        raise ModbusUsage(f"which register of {args.device}? --address N (1-based) or --ref D.P")
    address = protocol_address(args, args.address)
    table = Table(args.table)
    if not write:
        return "modbus_read", {
            "device": args.device,
            "function": read_function(table),
            "address": address,
            "count": args.count,
        }
    if table not in (Table.COIL, Table.HOLDING):
        raise ModbusUsage(f"--table {args.table} is read-only: write a coil or a holding register")
    values = [int(parse_value(v)) for v in args.values]
    return "modbus_write", {
        "device": args.device,
        "function": write_function(table, len(values)),
        "address": address,
        "values": values,
        "force": args.force,
        "reason": args.reason,
    }


def quiet_pymodbus() -> None:
    """pymodbus logs every silent unit of a scan at ERROR (and more at DEBUG); the CLI
    reports what it found itself."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL + 1)
    logging.getLogger("pymodbus").propagate = False


def run(args: argparse.Namespace, parse_value: Any) -> Any:
    """Through edged when it runs and the command names a device; else direct."""
    quiet_pymodbus()
    request = daemon_request(args, parse_value)
    if request is not None:
        cmd, payload = request
        try:
            return call(args.runtime_dir, cmd, payload, args.timeout)
        except DaemonNotRunning:
            pass  # nothing owns the link: open it ourselves, below
    return _direct(args, parse_value)


def _direct(args: argparse.Namespace, parse_value: Any) -> Any:
    if args.modbus_command == "scan":
        args.address = protocol_address(args, args.address)
        return run_modbus(args, None)
    ref = _ref(args)
    if ref is not None:
        args.device, _, args.point = ref.partition(".")
        if args.config is None:
            raise OfflineError(
                "edged is not running: to open the link directly give the config "
                f"(--config /etc/edge/venue.toml --ref {ref})"
            )
    elif args.device and args.config is None:
        raise OfflineError(
            "edged is not running: to open the link directly give --config FILE with "
            "--device, or --tcp/--rtu with --unit"
        )
    args.address = protocol_address(args, args.address)
    value = None
    if args.modbus_command == "write":
        if len(args.values) != 1:
            raise ModbusUsage("direct writes take one value (edged takes several)")
        value = parse_value(args.values[0])
    return run_modbus(args, value)
