"""systemd notify protocol: READY, STATUS, WATCHDOG, STOPPING, EXTEND_TIMEOUT_USEC.

Ten lines of our own instead of the `sdnotify` package, which swallows errors and
leaks its socket. With no NOTIFY_SOCKET (a terminal, a test) every call is a no-op.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger("edge.notify")


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._sock: socket.socket | None = None
        self._addr = ""
        if addr:
            # An '@' prefix names a socket in the abstract namespace.
            self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self._addr)
        except OSError as exc:
            log.warning("notify_failed", error=str(exc))
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more before systemd's start (or stop) timeout fires.

        For a long database check or salvage at start-up: send it again before the time
        granted runs out (systemd >= 236; older versions ignore it).
        """
        usec = max(1, int(seconds * 1_000_000))
        return self.send(f"EXTEND_TIMEOUT_USEC={usec}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Half of systemd's WatchdogSec (from WATCHDOG_USEC), or None when not supervised."""
    e = os.environ if env is None else env
    usec = e.get("WATCHDOG_USEC")
    pid = e.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2_000_000)
    except ValueError:
        return None
