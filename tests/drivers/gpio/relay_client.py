"""A stand-in for edged's GPIO side, run as its own process by the kill -9 test.

    python -m tests.drivers.gpio.relay_client SOCKET [--pulse S]

Starts a GpioBus on the remote backend with one relay (line 18); with --pulse, switches
it on, prints `on`, waits S seconds and switches it off (as the gate pulse does). Prints
`ready` once started; SIGTERM stops it (the bus drives the relay off on its way out).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import structlog

from drivers.gpio import GpioBus, GpioDeviceSettings, RemoteGpio
from edge.clock import SystemClock


def say(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


async def main(socket: str, pulse: float | None) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    relay = GpioDeviceSettings.relay("barrier", 18)
    async with GpioBus(RemoteGpio(socket), [relay], clock=SystemClock()) as bus:
        say("ready" if bus.device_online("barrier") else "offline")
        if pulse is not None:
            result = await bus.write("barrier", "relay", True)
            say("on" if result.verified else "unverified")
            await asyncio.sleep(pulse)
            await bus.write("barrier", "relay", False)
            say("off")
        await stop.wait()
    say("stopped")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--pulse", type=float)
    args = ap.parse_args()
    asyncio.run(main(args.socket, args.pulse))
