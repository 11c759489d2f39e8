"""A real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET.

A reader thread stamps each datagram as it arrives, so tests can measure the gaps
between watchdog pings even while the sender's event loop is blocked.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def drain(self) -> list[tuple[float, str]]:
        time.sleep(0.02)
        with self._lock:
            return list(self.messages)

    def wait_for(self, field: str, timeout_s: float = 10.0) -> float:
        """Monotonic time at which a datagram containing `field` arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for at, msg in self.drain():
                if field in msg.split("\n"):
                    return at
        raise AssertionError(f"no {field!r} within {timeout_s} s; got {self.messages!r}")

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=1)
        self.sock.close()
