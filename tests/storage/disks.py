"""A real small filesystem to fill: a tmpfs mounted with `mount -t tmpfs -o size=...`."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    def __init__(self, path: Path, size_mb: float) -> None:
        self.path = path
        self.size_mb = size_mb
        self.mounted = False

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, text=True)

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._run("mount", "-t", "tmpfs", "-o", f"size={self._size()}", "tmpfs", str(self.path))
        self.mounted = True

    def _size(self) -> str:
        return f"{int(self.size_mb * 1024)}k"

    def resize(self, size_mb: float) -> None:
        """Grow (or shrink) the filesystem in place: space "returns"."""
        self.size_mb = size_mb
        self._run("mount", "-o", f"remount,size={self._size()}", str(self.path))

    def remount_read_only(self) -> None:
        self._run("mount", "-o", "remount,ro", str(self.path))

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, name: str = "ballast", leave_bytes: int = 0) -> int:
        """Write a ballast file until the disk is full (less `leave_bytes`); its size."""
        written = 0
        chunk = b"\0" * 65536
        with open(self.path / name, "ab", buffering=0) as fh:
            while True:
                room = self.free_bytes() - leave_bytes
                if room <= 0:
                    break
                try:
                    n = fh.write(chunk[: min(len(chunk), room)])
                except OSError:
                    break
                written += n or 0
        return written

    def unmount(self) -> None:
        if self.mounted:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("umount", "-l", str(self.path))
            self.mounted = False


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 2 MB tmpfs at tmp_path/disk; `fill()`, `resize(mb)`; unmounted after the test.

    Import it where needed: `from tests.storage.disks import small_disk  # noqa: F401`.
    """
    disk = SmallDisk(tmp_path / "disk", size_mb=2)
    try:
        disk.mount()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root, as in CI): {exc.stderr.strip()}")
    try:
        yield disk
    finally:
        disk.unmount()
