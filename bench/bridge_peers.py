"""The three bridges bench/bridge.py compares: how each is configured, started, stopped and read.

- edged: the real daemon (through bench/bridge_edged.py, for the 40-register profile) with
  a generated venue: one `modbus_tcp` bus, devices d001..dNNN on unit ids 1..N polled every
  `--poll` s, the uplink on the bench's mosquitto. Ready when it sends READY=1 on
  $NOTIFY_SOCKET, as under systemd.
- modbus2mqtt 0.73 in its own venv (pymodbus 3.9.2: it breaks on 3.10+), one poller per
  unit id over one TCP connection, from a generated CSV.
- the bare poller (bench/bare_poller.py) in the project's venv.

Every peer's messages are turned into `Seen` values per (device, register) by its parser;
a payload a parser does not recognise yields nothing (the bench counts what it can name).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bridge_metrics import Seen

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
M2M_VERSION = "0.73"
M2M_PYMODBUS = "3.9.2"
SITE, GATEWAY = "bench", "gw"
STATE_TOPIC = f"edge/v1/{SITE}/{GATEWAY}/state"
BIRTH_TOPIC = f"edge/v1/{SITE}/{GATEWAY}/birth"
PROFILE = "bench_hr40"


class HarnessError(RuntimeError):
    """The harness could not do its job (a peer would not start, a tool is missing)."""


@dataclass(frozen=True)
class Setup:
    """What every peer is pointed at in one run."""

    run_dir: Path
    field_port: int
    broker_port: int
    devices: int
    registers: int
    poll_s: float


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    exec_to_ready_s: float | None = None
    on_stop: Callable[[], None] | None = None
    """Called once the process has been stopped (releases what was set up for it)."""

    def stop(self, sig: int) -> None:
        stop_process(self.proc, sig)
        if self.on_stop is not None:
            self.on_stop()


def device_name(unit: int) -> str:
    return f"d{unit:03d}"


def register_name(reg: int) -> str:
    return f"r{reg:02d}"


def _unit_of(name: str) -> int | None:
    if len(name) >= 2 and name[0] == "d" and name[1:].isdigit():
        return int(name[1:])
    return None


def _register_of(name: str) -> int | None:
    if len(name) >= 2 and name[0] == "r" and name[1:].isdigit():
        return int(name[1:])
    return None


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT
        )


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Signal one process we started, then kill it if it does not go within `timeout`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------ edged


def bench_profile_toml(registers: int) -> str:
    lines = [
        f'name = "{PROFILE}"',
        f'description = "Bench only: {registers} holding registers, uint16, no deadband"',
        "points = [",
        *(
            f'  {{ name = "{register_name(r)}", table = "holding", address = {r} }},'
            for r in range(registers)
        ),
        "]",
    ]
    return "\n".join(lines) + "\n"


def edged_venue_toml(s: Setup) -> str:
    lines = [
        "[site]",
        f'id = "{SITE}"',
        f'gateway = "{GATEWAY}"',
        "",
        "[storage]",
        f'dir = "{s.run_dir / "state"}"',
        f'runtime_dir = "{s.run_dir / "runtime"}"',
        "",
        "[[buses]]",
        'kind = "modbus_tcp"',
        'id = "field"',
        'host = "127.0.0.1"',
        f"port = {s.field_port}",
        "",
        "[uplink]",
        'host = "127.0.0.1"',
        f"port = {s.broker_port}",
    ]
    for unit in range(1, s.devices + 1):
        lines += [
            "",
            "[[devices]]",
            f'id = "{device_name(unit)}"',
            f'profile = "{PROFILE}"',
            'bus = "field"',
            f"unit_id = {unit}",
            f"poll_interval = {s.poll_s}",
        ]
    return "\n".join(lines) + "\n"


def write_profile_dir(directory: Path, registers: int) -> Path:
    """The shipped profiles plus the bench one, for bench/bridge_edged.py."""
    directory.mkdir(parents=True, exist_ok=True)
    for shipped in (ROOT / "drivers" / "profiles").glob("*.toml"):
        (directory / shipped.name).write_bytes(shipped.read_bytes())
    (directory / f"{PROFILE}.toml").write_text(bench_profile_toml(registers))
    return directory


def _edged_point(point: object, device: str | None, flagged: bool) -> Seen | None:
    """One entry of a state message (`point` = `dNNN.rNN`) or of a birth device's points
    (`name` = `rNN`, device given)."""
    if not isinstance(point, dict):
        return None
    if device is None:
        ref = point.get("point")
        if not isinstance(ref, str):
            return None
        device, _, reg = ref.partition(".")
    else:
        name = point.get("name")
        if not isinstance(name, str):
            return None
        reg = name
    unit, register = _unit_of(device), _register_of(reg)
    if unit is None or register is None:
        return None
    read_ts = None
    if isinstance(point.get("ts"), str):
        with contextlib.suppress(ValueError):
            read_ts = datetime.fromisoformat(point["ts"]).timestamp()
    quality = str(point.get("quality"))
    return Seen(0.0, unit, register, point.get("value"), quality, read_ts, flagged)


def parse_edged(topic: str, payload: bytes) -> list[Seen]:
    """edged's `state` messages, one Seen per point (`heartbeat: true` marks a flagged
    refresh), and its `birth`: every point's current value, flagged (it is the inventory,
    not a re-send; it tells the subscriber what the points were before the first change)."""
    is_birth = topic.startswith(BIRTH_TOPIC + "/part/")  # the devices are in the parts
    if topic != STATE_TOPIC and not is_birth:
        return []
    try:
        body = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    found: list[Seen | None] = []
    if topic == STATE_TOPIC and isinstance(body.get("points"), list):
        flagged = body.get("heartbeat") is True
        found = [_edged_point(p, None, flagged) for p in body["points"]]
    elif is_birth and isinstance(body.get("devices"), list):
        for dev in body["devices"]:
            if isinstance(dev, dict) and isinstance(dev.get("id"), str):
                points = dev.get("points")
                if isinstance(points, list):
                    found += [_edged_point(p, dev["id"], True) for p in points]
    return [s for s in found if s is not None]


def start_edged(s: Setup, python: str, ready_timeout: float = 60.0) -> Started:
    profiles = write_profile_dir(s.run_dir / "profiles", s.registers)
    venue = s.run_dir / "venue.toml"
    venue.write_text(edged_venue_toml(s))
    # A unix socket path must stay under 108 bytes: keep it out of the (maybe deep) run dir.
    # It stays bound until edged is stopped, as systemd's would (STATUS=, STOPPING=1).
    notify_dir = Path(tempfile.mkdtemp(prefix="edged-notify-"))
    notify_path = notify_dir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def close() -> None:
        sock.close()
        shutil.rmtree(notify_dir, ignore_errors=True)

    try:
        sock.bind(str(notify_path))
        env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
        env.pop("WATCHDOG_USEC", None)
        cmd = [python, str(BENCH / "bridge_edged.py"), str(profiles), "--config", str(venue)]
        t_exec = time.monotonic()
        proc = _spawn(cmd, s.run_dir / "edged.log", env)
        deadline = t_exec + ready_timeout
        while True:
            if proc.poll() is not None:
                log = s.run_dir / "edged.log"
                raise HarnessError(f"edged exited with {proc.returncode} before READY; see {log}")
            left = deadline - time.monotonic()
            if left <= 0:
                stop_process(proc)
                raise HarnessError(f"edged sent no READY=1 within {ready_timeout} s")
            sock.settimeout(min(left, 0.5))
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if b"READY=1" in data.split(b"\n"):
                return Started(proc, time.monotonic() - t_exec, on_stop=close)
    except BaseException:
        close()
        raise


def edged_startup_s(log: Path) -> float | None:
    """Component start -> READY as edged logs it (`ready` event, `startup_s`)."""
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "ready":
                    value = event.get("startup_s")
                    return float(value) if isinstance(value, int | float) else None
    return None


# ------------------------------------------------------------------------------ modbus2mqtt


def m2m_venv(cache: Path) -> Path:
    """modbus2mqtt 0.73 with pymodbus 3.9.2 in its own venv under `cache` (made once)."""
    venv = cache / f"modbus2mqtt-{M2M_VERSION}-pymodbus-{M2M_PYMODBUS}"
    exe = venv / "bin" / "modbus2mqtt"
    if exe.exists():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            f"modbus2mqtt=={M2M_VERSION}",
            f"pymodbus=={M2M_PYMODBUS}",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise HarnessError(
                f"could not install modbus2mqtt: {' '.join(step)}\n{done.stderr[-2000:]}"
            )
    if not exe.exists():
        raise HarnessError(f"modbus2mqtt installed but {exe} is missing")
    return venv


def m2m_csv(s: Setup) -> str:
    rows = ['"type","topic","col2","col3","col4","col5","col6"']
    for unit in range(1, s.devices + 1):
        rows.append(f"poll,{device_name(unit)},{unit},0,{s.registers},holding_register,{s.poll_s}")
        rows += [f"ref,{register_name(r)},{r},r,uint16" for r in range(s.registers)]
    return "\n".join(rows) + "\n"


def parse_m2m(topic: str, payload: bytes) -> list[Seen]:
    """modbus2mqtt: `m2m/<device>/state/<ref>` with str(value)."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "m2m" or parts[2] != "state":
        return []
    unit, register = _unit_of(parts[1]), _register_of(parts[3])
    if unit is None or register is None:
        return []
    try:
        value = int(payload)
    except ValueError:
        return []
    return [Seen(0.0, unit, register, value)]


def start_m2m(s: Setup, venv: Path) -> Started:
    config = s.run_dir / "modbus2mqtt.csv"
    config.write_text(m2m_csv(s))
    cmd = [
        str(venv / "bin" / "modbus2mqtt"),
        "--tcp", "127.0.0.1",
        "--tcp-port", str(s.field_port),
        "--mqtt-host", "127.0.0.1",
        "--mqtt-port", str(s.broker_port),
        "--mqtt-topic", "m2m/",
        "--config", str(config),
    ]  # fmt: skip
    return Started(_spawn(cmd, s.run_dir / "modbus2mqtt.log"))


# ------------------------------------------------------------------------------ bare poller


def parse_bare(topic: str, payload: bytes) -> list[Seen]:
    """The bare poller: `bare/<device>/<register>` with {"v": value, "ts": read time}."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "bare":
        return []
    unit, register = _unit_of(parts[1]), _register_of(parts[2])
    if unit is None or register is None:
        return []
    try:
        body = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(body, dict) or "v" not in body:
        return []
    ts = body.get("ts")
    read_ts = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None
    return [Seen(0.0, unit, register, body["v"], "good", read_ts)]


def start_bare(s: Setup, python: str) -> Started:
    cmd = [
        python, str(BENCH / "bare_poller.py"),
        "--modbus-port", str(s.field_port),
        "--mqtt-port", str(s.broker_port),
        "--devices", str(s.devices),
        "--registers", str(s.registers),
        "--poll", str(s.poll_s),
    ]  # fmt: skip
    return Started(_spawn(cmd, s.run_dir / "bare.log"))


PARSERS = {"edged": parse_edged, "modbus2mqtt": parse_m2m, "bare": parse_bare}
STOP_SIGNAL = {"edged": signal.SIGTERM, "modbus2mqtt": signal.SIGINT, "bare": signal.SIGTERM}


def parse_subscriber_line(peer: str, line: bytes) -> list[Seen]:
    """A `mosquitto_sub -F '%U %t %p'` line -> the peer's values, stamped with the receive time."""
    stamp, _, rest = line.rstrip(b"\n").partition(b" ")
    topic, _, payload = rest.partition(b" ")
    try:
        t = float(stamp)
        name = topic.decode()
    except (ValueError, UnicodeDecodeError):
        return []
    if not math.isfinite(t):
        return []
    return [
        Seen(t, v.device, v.register, v.value, v.quality, v.read_ts, v.flagged)
        for v in PARSERS[peer](name, payload)
    ]
