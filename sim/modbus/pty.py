"""A socat pseudo-terminal pair: two linked device paths, like two ends of an RS-485 cable."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path


class PtyPair:
    """`server_path` and `client_path` are symlinks to the two ptys that socat joins.

    `stop()` kills socat (both ends vanish, like an unplugged USB adapter);
    `start()` creates the pair again at the same paths.
    """

    def __init__(self, directory: Path | None = None, name: str = "bus") -> None:
        self._own_dir = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="simpty-")) if directory is None else directory
        )
        self.server_path = self.directory / f"{name}-device"
        self.client_path = self.directory / f"{name}-master"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if shutil.which("socat") is None:
            raise RuntimeError("socat is not installed (apt-get install socat)")
        for p in (self.server_path, self.client_path):
            p.unlink(missing_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            "socat",
            f"pty,raw,echo=0,link={self.server_path}",
            f"pty,raw,echo=0,link={self.client_path}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(500):
            if self.server_path.exists() and self.client_path.exists():
                return
            if self._proc.returncode is not None:
                break
            await asyncio.sleep(0.01)
        await self.stop()
        raise RuntimeError("socat did not create the pty pair")

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for p in (self.server_path, self.client_path):
            p.unlink(missing_ok=True)

    async def close(self) -> None:
        await self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self) -> bool:
        return (
            self._proc is not None
            and self._proc.returncode is None
            and os.path.exists(self.server_path)
        )
