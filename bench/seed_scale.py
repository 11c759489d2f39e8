"""edged at the seed's scale: the example venue's 97 devices (its fire panel included) plus
10 sensors (107 smart devices), a fire panel gateway of 2,499 field devices and 50 IP cameras,
all simulated; edged as its own process.

    .venv/bin/python bench/seed_scale.py [--seconds 60] [--warmup 20] [--runs 1]

Per run: exec -> READY=1 (edged's NOTIFY_SOCKET, read here), then CPU (utime+stime from
/proc/PID/stat over the window, % of one core) and RSS (median of VmRSS samples) at the
venue's own polling rates, with every court booked for the evening. One rules evaluation
of that venue (the pure `rules.evaluate`, as the automation component runs it) is timed in
this process, median and p99 of 200. The simulator runs in this process (it is not
edged's cost); `python -m edge.edged` is the unit's entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.clock import SimClock  # noqa: E402
from edge.venue import load_venue  # noqa: E402
from rules import evaluate  # noqa: E402
from rules.model import Booking, World  # noqa: E402
from sim.cameras import SimCameras  # noqa: E402
from sim.venue import SimVenue  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE = ROOT / "examples" / "venue.toml"
TICKS = os.sysconf("SC_CLK_TCK")

EXTRA = """
[[buses]]
kind = "network"
id = "cams"
interval_s = 10.0
timeout_s = 2.0
fail_after = 3

[[devices]]
id = "fire-gw-loops"
profile = "fire_gateway"
bus = "fire-gw"
unit_id = 2
name = "Fire panel gateway: 10 loops, 2,499 devices"
poll_interval = 1.0
"""

SENSOR = """
[[devices]]
id = "env-extra-{i}"
profile = "env_sensor"
bus = "tcp-ahu"
unit_id = {unit}
zone = "lobby"
poll_interval = 5.0
"""

CAMERA = """
[[devices]]
id = "{name}"
profile = "ip_camera"
bus = "cams"
host = "{host}"
port = {port}
probe = "rtsp"
"""


def seed_config(path: Path, cams: SimCameras) -> None:
    text = EXAMPLE.read_text(encoding="utf-8") + EXTRA
    text += "".join(SENSOR.format(i=i, unit=200 + i) for i in range(10))
    text += "".join(
        CAMERA.format(name=n, host=cams.endpoint(n).host, port=cams.endpoint(n).rtsp)
        for n in cams.names
    )
    path.write_text(text, encoding="utf-8")


def spawn(config: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.edged", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def evening_bookings(config: Path, day: datetime) -> list[Booking]:
    venue = load_venue(config)
    courts = [z.id for z in venue.config.zones if z.kind == "court"]
    start = day.replace(hour=19)
    return [
        Booking(booking_id=f"b-{c}", zone=c, start=start, end=start + timedelta(hours=2),
                member="m-1", version=1)
        for c in courts
    ]  # fmt: skip


def evaluation_ms(config: Path, bookings: list[Booking], now: datetime) -> tuple[float, float]:
    venue = load_venue(config)
    world = World(site=venue.site, bookings=tuple(bookings))
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        evaluate(world, now)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


async def one_run(seconds: float, warmup: float) -> tuple[float, float, float, int]:
    day = datetime(2026, 7, 15, tzinfo=TZ)
    clock = SimClock(day.replace(hour=18, minute=50), rate=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        async with SimCameras(50) as cams:
            src = base / "seed.toml"
            seed_config(src, cams)
            async with SimVenue.from_config(src, clock, workdir=base / "sim") as venue:
                config = venue.runtime_config_path
                devices = len(load_venue(config).config.devices)
                notify = base / "notify"
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.bind(str(notify))
                sock.setblocking(False)
                env = {**os.environ, "NOTIFY_SOCKET": str(notify), "PYTHONPATH": str(ROOT)}
                started = time.perf_counter()
                proc = spawn(config, env)
                try:
                    ready = None
                    while ready is None:
                        try:
                            if "READY=1" in sock.recv(4096).decode():
                                ready = time.perf_counter() - started
                        except BlockingIOError:
                            assert proc.poll() is None, "edged exited before READY"
                            await asyncio.sleep(0.005)
                    await asyncio.sleep(warmup)
                    c0, t0 = cpu_s(proc.pid), time.monotonic()
                    rss = []
                    while time.monotonic() - t0 < seconds:
                        await asyncio.sleep(1.0)
                        rss.append(rss_mib(proc.pid))
                    cpu = (cpu_s(proc.pid) - c0) / (time.monotonic() - t0) * 100
                    return ready, cpu, statistics.median(rss), devices
                finally:
                    proc.terminate()
                    proc.wait(30)
                    sock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    for i in range(args.runs):
        ready, cpu, rss, devices = asyncio.run(one_run(args.seconds, args.warmup))
        print(f"run {i + 1}: {devices} devices (the example's 97, 10 more sensors, a fire "
              f"panel gateway of 2,499 devices, 50 cameras): exec -> READY {ready:.2f} s; "
              f"CPU {cpu:.2f} % of a core over {args.seconds:.0f} s; "
              f"RSS {rss:.1f} MiB")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.toml"
        path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        day = datetime(2026, 7, 15, tzinfo=TZ)
        p50, p99 = evaluation_ms(path, evening_bookings(path, day), day.replace(hour=19))
        print(f"one rules evaluation, every court booked: median {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
