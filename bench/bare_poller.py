"""The bare baseline of bench/bridge.py: a Modbus-to-MQTT bridge in as few lines as it takes.

One pymodbus TCP client (its transaction lock serialises requests, as edged's one
connection does), one asyncio task per unit id reading `--registers` holding registers
every `--poll` seconds on a fixed rate, and a QoS 1 publish (as edged's) of every register
whose value changed, to PREFIX/dNNN/rNN with `{"v": value, "ts": read time}`. No
decoding, no deadband, no storage, no refresh of unchanged values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time

import aiomqtt
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException


async def poll_device(
    modbus: AsyncModbusTcpClient, mqtt: aiomqtt.Client, unit: int, args: argparse.Namespace
) -> None:
    last: list[int | None] = [None] * args.registers
    due = time.monotonic()
    while True:
        try:
            rr = await modbus.read_holding_registers(0, count=args.registers, device_id=unit)
            read_ts = time.time()
            if not rr.isError():
                for i, value in enumerate(rr.registers):
                    if value != last[i]:
                        last[i] = value
                        payload = json.dumps({"v": value, "ts": read_ts})
                        await mqtt.publish(f"{args.prefix}/d{unit:03d}/r{i:02d}", payload, qos=1)
        except ModbusException:
            pass  # the next cycle tries again
        due += args.poll
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def run(args: argparse.Namespace) -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    modbus = AsyncModbusTcpClient(args.modbus_host, port=args.modbus_port, timeout=1, retries=0)
    await modbus.connect()
    async with (
        aiomqtt.Client(args.mqtt_host, port=args.mqtt_port) as mqtt,
        asyncio.TaskGroup() as tg,
    ):
        for unit in range(1, args.devices + 1):
            tg.create_task(poll_device(modbus, mqtt, unit, args))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modbus-host", default="127.0.0.1")
    p.add_argument("--modbus-port", type=int, required=True)
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--devices", type=int, required=True, help="unit ids 1..N")
    p.add_argument("--registers", type=int, default=40)
    p.add_argument("--poll", type=float, default=1.0, help="poll period, seconds")
    p.add_argument("--prefix", default="bare")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
