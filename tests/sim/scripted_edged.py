"""A scripted stand-in for edged, for testing the demo's timeline on its positive path.

It takes edged's command line, answers `status` on edged's control socket (so the demo
aligns its clock), reads the runtime config and, on the shared simulated clock, does what
the booking should cause: hall A's air handlers on at 25 C from the
start, court 3's lights on at 18:55 and off at 21:10. It talks real Modbus to the
simulated devices; it only stands in for the rules engine, so the demo's observation
and summary logic can be checked before the real one drives outputs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.framer import FramerType

from edge.clock import SimClock
from edge.config.load import load
from edge.config.model import ModbusRtuBus, ModbusTcpBus
from edge.profiles import profile_points


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--sim-start", type=datetime.fromisoformat)
    p.add_argument("--sim-rate", type=float)
    p.add_argument("--log-json", action="store_true")
    args = p.parse_args()
    cfg = load(args.config, profile_points)
    clock = SimClock(args.sim_start, rate=args.sim_rate)
    await serve_status(cfg.storage.runtime_dir, clock)
    buses = {b.id: b for b in cfg.buses}
    devices = {d.id: d for d in cfg.devices}
    rtu = buses[devices["lights-a3"].bus]
    tcp = buses[devices["ahu-a1"].bus]
    assert isinstance(rtu, ModbusRtuBus) and isinstance(tcp, ModbusTcpBus)
    lights = AsyncModbusSerialClient(rtu.port, framer=FramerType.RTU, baudrate=rtu.baudrate)
    ahus = AsyncModbusTcpClient(tcp.host, port=tcp.port)
    await lights.connect()
    await ahus.connect()
    for ahu in ("ahu-a1", "ahu-a2"):
        unit = devices[ahu].unit_id
        await ahus.write_register(1, 250, device_id=unit)
        await ahus.write_coil(0, True, device_id=unit)
    tz = ZoneInfo(cfg.site.timezone)
    day = args.sim_start.astimezone(tz).date()
    unit = devices["lights-a3"].unit_id
    for at, on in ((time(18, 55), True), (time(21, 10), False)):
        when = datetime.combine(day, at, tz)
        await clock.sleep((when - clock.now()) / timedelta(seconds=1))
        await lights.write_coils(0, [on] * 4, device_id=unit)
    await asyncio.Event().wait()  # run until the demo stops us


async def serve_status(runtime_dir: str, clock: SimClock) -> None:
    """Answer edged's control `status` with this clock's now (the demo aligns its clock)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        reply = {"v": 1, "ok": True, "result": {"now": clock.now().isoformat()}}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    # edge-sim created the runtime directory with the runtime config.
    await asyncio.start_unix_server(client, path=str(Path(runtime_dir) / "edged.sock"))


if __name__ == "__main__":
    asyncio.run(main())
