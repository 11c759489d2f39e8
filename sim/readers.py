"""Serial-line credential readers: QR scanners, face/card terminals, the plate camera.

Each reader is a pseudo-terminal: `edged` opens `path` (the slave side, a real tty
that pyserial configures like a USB-serial adapter) and the simulator writes to the
master side exactly what the device would send: the payload then CR LF. A pty
ignores the baud rate, so bytes arrive at once; nothing here depends on timing.
Whatever `edged` writes back (beeps, LED commands) is kept in `received`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path

from .errors import SimError

ROLES = ("qr_scanner", "face_terminal", "card_reader", "plate_camera")


class ReaderLine:
    def __init__(self, bus_id: str, role: str, gate: str, link_dir: Path | None = None) -> None:
        self.bus_id = bus_id
        self.role = role
        self.gate = gate
        self._link_dir = link_dir
        self._master: int | None = None
        self._slave: int | None = None
        self.tty_path = ""
        self.sent: list[bytes] = []
        self.received = bytearray()

    @property
    def path(self) -> str:
        """What the daemon opens: a stable symlink when a directory was given, else the pty."""
        if self._link_dir is not None:
            return str(self._link_dir / self.bus_id)
        return self.tty_path

    async def start(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass as a scanner sends them
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.tty_path = os.ttyname(slave)
        if self._link_dir is not None:
            self._link_dir.mkdir(parents=True, exist_ok=True)
            link = self._link_dir / self.bus_id
            link.unlink(missing_ok=True)
            link.symlink_to(self.tty_path)
        asyncio.get_running_loop().add_reader(master, self._drain)

    def _drain(self) -> None:
        assert self._master is not None
        with contextlib.suppress(BlockingIOError, OSError):
            self.received += os.read(self._master, 4096)
        del self.received[:-65536]

    def send_bytes(self, data: bytes) -> None:
        """Write raw bytes as the device would (no terminator added)."""
        if self._master is None:
            raise SimError(f"reader {self.bus_id} is not running")
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        if written != len(data):
            raise SimError(
                f"reader {self.bus_id}: the line's buffer is full (is edged reading {self.path}?)"
            )
        self.sent.append(data)

    def send_line(self, payload: str) -> None:
        """A scan: the payload then CR LF, like a scanner in keyboard-wedge-over-serial mode."""
        self.send_bytes(payload.encode("utf-8") + b"\r\n")

    async def stop(self) -> None:
        if self._master is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        if self._link_dir is not None:
            (self._link_dir / self.bus_id).unlink(missing_ok=True)
