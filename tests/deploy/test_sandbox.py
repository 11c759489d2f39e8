"""edged runs under the unit's syscall filter, address families, MDWE, NNP and umask.

sandbox_exec.py applies those settings from systemd/edged.service to a plain process (no
systemd as PID 1 needed), then the real daemon starts, pings, reloads and stops inside it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.unitfile import UNIT, tool

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("sandbox_exec.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _launcher_problem() -> str | None:
    if tool("systemd-analyze") is None:
        return "systemd-analyze is not installed (apt-get install systemd)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return "libseccomp bindings missing for the system Python (apt-get install python3-seccomp)"
    mdwe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import ctypes,sys; sys.exit(ctypes.CDLL(None).prctl(65,1,0,0,0))"],
        capture_output=True,
        check=False,
    )
    if mdwe.returncode != 0:
        return "kernel has no PR_SET_MDWE (Linux >= 6.3) to emulate MemoryDenyWriteExecute="
    return None


PROBLEM = _launcher_problem() if Path(SYSTEM_PYTHON).exists() else "no /usr/bin/python3"
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")


def sandboxed(*argv: str) -> list[str]:
    """The command line that runs `argv` under the unit's restrictions."""
    return [SYSTEM_PYTHON, str(LAUNCHER), str(UNIT), "--", *argv]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run a snippet with the project's interpreter inside the sandbox."""
    return subprocess.run(
        sandboxed(sys.executable, "-c", code),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_sandbox_refuses_what_the_unit_forbids(tmp_path: Path) -> None:
    """The emulation is live: netlink sockets, W+X memory and chown() are all refused."""
    target = tmp_path / "f"
    target.write_text("")
    code = f"""
import mmap, os, socket
results = []
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
    results.append("netlink allowed")
except OSError as e:
    results.append(f"netlink {{e.errno}}")
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    results.append("wx allowed")
except OSError as e:
    results.append("wx refused")
try:
    os.chown({str(target)!r}, -1, os.getgid())
    results.append("chown allowed")
except PermissionError:
    results.append("chown refused")
print(";".join(results))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "netlink 97;wx refused;chown refused"  # 97 = EAFNOSUPPORT


def test_dependencies_work_in_the_sandbox() -> None:
    """TLS, X.509 (Rust), msgspec, pymodbus, aiomqtt and pyserial all load and work."""
    code = """
import asyncio, datetime, ssl
import aiomqtt, msgspec, pymodbus.client, serial
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw-1")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
ssl.create_default_context()
assert msgspec.json.decode(msgspec.json.encode({"a": 1})) == {"a": 1}
async def main():
    aiomqtt.Client("127.0.0.1")
    pymodbus.client.AsyncModbusTcpClient("127.0.0.1", port=1)
asyncio.run(main())
print("ok", cert.serial_number)
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok 1"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def receive_until(sock: socket.socket, wanted: str, timeout_s: float) -> list[str]:
    """Notify messages received until one contains `wanted` (or the timeout)."""
    got: list[str] = []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if wanted in got[-1]:
            break
    return got


def wait_for_log(log: Path, event: str, timeout_s: float) -> bool:
    """True once the daemon's log file contains `event`."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if event in log.read_text():
            return True
        time.sleep(0.05)
    return False


def test_daemon_lifecycle_in_the_sandbox(tmp_path: Path, notify_socket: socket.socket) -> None:
    """edged reaches READY, pings the watchdog, survives SIGHUP and stops cleanly, sandboxed."""
    state, runtime = tmp_path / "state", tmp_path / "run"
    config = tmp_path / "venue.toml"
    config.write_text(
        f'[site]\nid = "wcp-main"\ngateway = "gw-1"\n\n'
        f'[storage]\ndir = "{state}"\nruntime_dir = "{runtime}"\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "400000",  # pings every 0.2 s
    }
    argv = [sys.executable, "-c", "import sys; from edge.daemon import main; sys.exit(main())"]
    log = tmp_path / "edged.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            sandboxed(*argv, "--config", str(config)),
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        got = receive_until(notify_socket, "READY=1", timeout_s=20)
        assert any("READY=1" in m for m in got), (got, daemon.poll())
        pings = [m for m in receive_until(notify_socket, "never", 1.0) if m == "WATCHDOG=1"]
        assert len(pings) >= 2
        sock_mode = (runtime / "edged.sock").stat().st_mode & 0o777
        assert sock_mode == 0o660  # set explicitly by the daemon despite UMask=0027
        db_mode = next(state.glob("*.db")).stat().st_mode & 0o777
        assert db_mode & 0o007 == 0  # UMask=0027: nothing for others
        daemon.send_signal(signal.SIGHUP)
        assert wait_for_log(log, "config_reloaded", timeout_s=10), log.read_text()
        assert "WATCHDOG=1" in receive_until(notify_socket, "WATCHDOG=1", 2.0)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        assert any("STOPPING=1" in m for m in receive_until(notify_socket, "STOPPING=1", 1.0))
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert "Traceback" not in log.read_text(), log.read_text()
