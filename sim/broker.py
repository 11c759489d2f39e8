"""A real MQTT broker for tests and the demo.

`MosquittoBroker` runs the `mosquitto` binary on a loopback port with its config and
persistence in a temporary directory. It can be stopped (SIGTERM: clean, persists), killed
(SIGKILL: as a crash) and started again on the same port, which is how tests take the
"broker down for 10 minutes" path. Config notes (see shared FIELD-NOTES): as root mosquitto
drops to user `mosquitto` unless told `user root`; `max_queued_messages 0` stops it from
silently dropping QoS 1 messages queued for a slow subscriber.

When mosquitto is not installed, `open_broker()` falls back to an embedded `amqtt` broker
(the optional `sim` extra: `pip install edged[sim]`). amqtt speaks MQTT 3.1.1 only and keeps
nothing on disk: good for the demo, not for reliability tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol


class BrokerUnavailable(RuntimeError):
    """Neither mosquitto nor amqtt is available."""


class Broker(Protocol):
    """A running broker: where it listens, and stop/start (sync for mosquitto, async for
    amqtt) for the venue's `broker_stop`/`broker_start` faults."""

    host: str
    port: int

    def stop(self) -> object: ...
    def start(self) -> object: ...


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_listening(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode} during start")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"mosquitto did not listen on {host}:{port} within {timeout} s")


def mosquitto_installed() -> bool:
    return bool(shutil.which("mosquitto")) or os.path.exists("/usr/sbin/mosquitto")


class MosquittoBroker:
    """`mosquitto -c DIR/mosquitto.conf` on `host:port`; usable as a (sync) context manager."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        workdir: Path | None = None,
        users: dict[str, str] | None = None,
        extra_config: list[str] | None = None,
        binary: str | None = None,
    ) -> None:
        found = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(found):
            raise BrokerUnavailable("mosquitto not found: apt-get install -y mosquitto")
        self.binary = found
        self.host = host
        self.port = port or free_port(host)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mosquitto-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.users = users
        self.refuse_all = False
        """Refuse every client (anonymous or not) at the next start: `broker_auth` fault."""
        self.extra_config = extra_config or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _write_config(self) -> Path:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {data}/",
            "max_queued_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        if self.refuse_all:
            lines.append("allow_anonymous false")  # no password file: nobody gets in
        elif self.users:
            pwfile = self.workdir / "passwords"
            pwfile.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(pwfile), user, password],
                    check=True,
                    capture_output=True,
                )
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        lines += self.extra_config
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout: float = 5.0) -> None:
        """Start (or start again, on the same port)."""
        if self.running:
            return
        conf = self._write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        try:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()
        _wait_listening(self.host, self.port, timeout, self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM: clients are dropped without DISCONNECT (their Wills are published)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: as a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AmqttBroker:
    """Embedded amqtt broker (MQTT 3.1.1, in memory); `await start()` / `await stop()`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        try:
            from amqtt.broker import Broker as _AmqttBroker
        except ImportError as exc:
            raise BrokerUnavailable(
                "no mosquitto binary and amqtt is not installed: "
                "apt-get install -y mosquitto, or pip install 'edged[sim]'"
            ) from exc
        self.host = host
        self.port = port or free_port(host)
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{self.port}"}},
            # amqtt >= 0.12: plugins by class path (the older `auth` section is deprecated).
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._broker = _AmqttBroker(config)

    async def start(self) -> None:
        await self._broker.start()

    async def stop(self) -> None:
        await self._broker.shutdown()


@contextlib.asynccontextmanager
async def open_broker(port: int = 0, prefer: str = "mosquitto") -> AsyncIterator[Broker]:
    """A running broker: mosquitto when installed, else embedded amqtt (see module doc)."""
    if prefer == "mosquitto" and mosquitto_installed():
        broker = MosquittoBroker(port=port)
        broker.start()
        try:
            yield broker
        finally:
            broker.close()
        return
    embedded = AmqttBroker(port=port)
    await embedded.start()
    try:
        yield embedded
    finally:
        await embedded.stop()
