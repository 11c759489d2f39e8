"""edgectl's offline tools: direct Modbus and GPIO, with the daemon stopped.

They use the same drivers as the daemon (encoding, range checks, verified writes).
A bus the running daemon owns is refused unless --direct: two masters on one RS-485
line corrupt each other's frames (edge.cli.modbus sends a configured device's reads
and writes through the daemon instead).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from drivers.gpio import GpioError, open_backend
from drivers.modbus.errors import ModbusDriverError, TransactionFailed
from drivers.modbus.links import Link, RtuLink, TcpLink
from drivers.modbus.offline import read_point, read_raw, scan, write_point
from drivers.modbus.points import PointSpec, Table
from drivers.modbus.profiles import load_profile, point_of, resolve
from drivers.modbus.raw import exception_name
from edge.cli.client import DaemonNotRunning, DaemonRefused, DaemonUnavailable, call
from edge.config.errors import ConfigError
from edge.config.load import load
from edge.config.model import Device, ModbusRtuBus, ModbusRtuTcpBus, ModbusTcpBus
from edge.field.buses import make_link
from edge.profiles import profile_points


class OfflineError(Exception):
    """A refusal or failure with the next step in the message."""


def add_parsers(sub: Any) -> None:
    """The GPIO tool (the Modbus one is edge.cli.modbus)."""
    gp = sub.add_parser("gpio", help="direct GPIO (daemon stopped)")
    gp.add_argument("action", choices=["read", "pulse"])
    gp.add_argument("pin", type=int, help="BCM pin number")
    gp.add_argument("--for", dest="duration", default="1s", help="pulse length, e.g. 500ms, 2s")
    gp.add_argument("--backend", choices=["rpi", "simulated"], default="rpi")


def _from_config(args: argparse.Namespace) -> tuple[Link, str, Device | None]:
    try:
        cfg = load(args.config, profile_points)
    except ConfigError as exc:
        raise OfflineError(str(exc)) from None
    device = None
    bus_id = args.bus
    if getattr(args, "device", None):
        device = next((d for d in cfg.devices if d.id == args.device), None)
        if device is None:
            raise OfflineError(f"unknown device '{args.device}' in {args.config}")
        bus_id = device.bus
    bus = next((b for b in cfg.buses if b.id == bus_id), None)
    if not isinstance(bus, ModbusTcpBus | ModbusRtuBus | ModbusRtuTcpBus):
        modbus = (ModbusTcpBus, ModbusRtuBus, ModbusRtuTcpBus)
        known = ", ".join(b.id for b in cfg.buses if isinstance(b, modbus))
        raise OfflineError(f"no Modbus bus '{bus_id}' in {args.config} (buses: {known})")
    return make_link(bus), bus.id, device


def _link(args: argparse.Namespace) -> tuple[Link, Device | None]:
    if args.config is not None:
        link, _, device = _from_config(args)
        return link, device
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise OfflineError(f"--tcp '{args.tcp}': write HOST:PORT, e.g. 192.168.1.20:502")
        return TcpLink(host, int(port)), None
    if args.rtu:
        return RtuLink(args.rtu, baudrate=args.baud, parity=args.parity), None
    raise OfflineError("say which link: --config FILE --bus ID, --tcp HOST:PORT or --rtu PORT")


def _refuse_if_owned(args: argparse.Namespace, link: Link, runtime_dir: Path) -> str:
    """Refuse a link edged owns (unless --direct); else say how the link was opened."""
    try:
        status = call(runtime_dir, "status", {}, 2.0)
    except DaemonNotRunning:
        return "edged is not running: opened the link directly"
    except (DaemonUnavailable, DaemonRefused):
        return "edged does not answer: opened the link directly"
    owned = {b["link"]: name for name, b in status.get("buses", {}).items()}
    if link.label not in owned:
        return "edged does not own this link: opened it directly"
    if args.direct:
        return f"opened {link.label} directly although edged owns it (--direct)"
    raise OfflineError(
        f"edged is running and owns {link.label} (bus '{owned[link.label]}'): "
        "name a configured device (--ref DEVICE.POINT or --device D --address N) to go "
        "through edged's bus, stop it (`systemctl stop edged`), "
        "or pass --direct if you know the line can take two masters"
    )


async def _modbus(args: argparse.Namespace, link: Link, device: Device | None, value: Any) -> Any:
    cmd = args.modbus_command
    if cmd == "scan":
        hits = await scan(
            link,
            range(args.first, args.last + 1),
            table=args.table,
            address=args.address,
            timeout_s=min(args.timeout_s, 0.5),
        )
        return [{"unit_id": h.unit_id, "exception_code": h.exception_code} for h in hits]
    if device is not None and args.point:
        spec = point_of(resolve(load_profile(device.profile), device.points), args.point)
        assert device.unit_id is not None
        if cmd == "read":
            u = await read_point(link, device.unit_id, spec, timeout_s=args.timeout_s)
            return {
                "device": device.id,
                "point": spec.name,
                "value": u.value,
                "quality": str(u.quality),
                "unit": spec.unit,
            }
        w = await write_point(link, device.unit_id, spec, value, timeout_s=args.timeout_s)
        return {
            "device": device.id,
            "point": spec.name,
            "requested": value,
            "read_back": w.value,
            "verified": w.verified,
        }
    if device is not None:
        assert device.unit_id is not None
        args.unit = device.unit_id
    if args.unit is None or args.address is None:
        raise OfflineError("give --unit and --address (or --config with --device)")
    if cmd == "read":
        data = await read_raw(
            link, args.unit, args.table, args.address, args.count, timeout_s=args.timeout_s
        )
        return {
            "unit": args.unit,
            "table": args.table,
            "address": args.address,
            "reference": args.address + 1,
            "values": [int(v) for v in data],
        }
    if args.table not in ("coil", "holding"):
        raise OfflineError(f"--table {args.table} is read-only: write a coil or a holding register")
    spec = PointSpec(name="raw", table=Table(args.table), address=args.address, writable=True)
    w = await write_point(link, args.unit, spec, value, timeout_s=args.timeout_s)
    return {
        "unit": args.unit,
        "table": args.table,
        "address": args.address,
        "reference": args.address + 1,
        "requested": value,
        "read_back": w.value,
        "verified": w.verified,
    }


def run_modbus(args: argparse.Namespace, value: Any) -> Any:
    link, device = _link(args)
    note = _refuse_if_owned(args, link, args.runtime_dir)
    try:
        result = asyncio.run(_modbus(args, link, device, value))
    except TransactionFailed as exc:
        if exc.exception_code is not None:
            code = exc.exception_code
            raise OfflineError(
                f"{link.label}: unit answered exception {code}: {exception_name(code)}"
            ) from None
        raise OfflineError(f"{link.label}: {exc}") from None
    except ModbusDriverError as exc:
        raise OfflineError(f"{link.label}: {exc}") from None
    if isinstance(result, dict):
        return {**result, "via": "direct", "link": link.label, "note": note}
    return result


def run_gpio(args: argparse.Namespace, seconds: float) -> Any:
    try:
        backend = open_backend(args.backend)
    except GpioError as exc:
        raise OfflineError(str(exc)) from None
    try:
        if args.action == "read":
            backend.setup_input(args.pin, "off")
            return {"pin": args.pin, "level": backend.read(args.pin)}
        backend.setup_output(args.pin, False)
        backend.write(args.pin, True)
        time.sleep(seconds)
        backend.write(args.pin, False)
        return {"pin": args.pin, "pulsed_s": seconds}
    finally:
        backend.close()
