"""A clean Debian bookworm root to install the .deb into: cached once, used through an overlay.

The pristine root (`debootstrap --variant=minbase bookworm`, about 30 s and 200 MB) is made
once under ~/.cache/edged-bookworm/base (EDGED_BOOKWORM_CACHE moves it). A copy of it with
what apt installs for the package's Depends: line is cached beside it (deps-<hash>, about
30 s to make, renewed weekly). Each run mounts an overlay on that copy, so every run starts
from the same clean root and throws its changes away. apt's package lists and downloaded
.debs are kept in the cache too, so a renewal needs little download.

`Chroot` runs commands in the root (dpkg, edgectl, man, systemd-analyze). `Container` boots
it with systemd-nspawn, systemd 252 as PID 1, without network (--private-network: the
daemon can reach nothing but the container's loopback).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("EDGED_BOOKWORM_CACHE", "~/.cache/edged-bookworm")).expanduser()
MIRROR = os.environ.get("EDGED_DEBIAN_MIRROR", "http://deb.debian.org/debian")
LISTS_MAX_AGE_S = 24 * 3600
DEPS_MAX_AGE_S = 7 * 24 * 3600
ROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "MANWIDTH": "80",
    "COLUMNS": "80",
    "SYSTEMD_PAGER": "",
    "SYSTEMD_COLORS": "0",
}


class Unavailable(Exception):
    """The root cannot be made or used here; the message is the reason to skip with."""


@dataclass
class Transcript:
    """Every command run in the root and its output, for the test log and the report."""

    lines: list[str] = field(default_factory=list)

    def add(self, where: str, command: str, proc: subprocess.CompletedProcess[str]) -> None:
        out = (proc.stdout + proc.stderr).rstrip("\n")
        self.lines.append(f"[{where}]# {command}\n{out}\n(exit {proc.returncode})")
        print(self.lines[-1])


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One run at a time changes the cache (debootstrap, apt lists and archives)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_root() -> Path:
    """The cached pristine bookworm root, made with debootstrap on first use."""
    base = CACHE / "base"
    with cache_lock():
        if (base / "usr/bin/apt-get").exists():
            return base
        if shutil.which("debootstrap") is None:
            raise Unavailable("debootstrap is not installed (apt-get install debootstrap)")
        partial = CACHE / "base.partial"
        shutil.rmtree(partial, ignore_errors=True)
        log = CACHE / "debootstrap.log"
        with log.open("w") as out:
            proc = subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(partial), MIRROR],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=900,
                check=False,
            )
        if proc.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = " | ".join(log.read_text().splitlines()[-3:])
            raise Unavailable(f"debootstrap bookworm from {MIRROR} failed: {tail}")
        partial.rename(base)
        return base


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, nearest first."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop(0)
        children = Path(f"/proc/{parent}/task/{parent}/children")
        kids = [int(c) for c in children.read_text().split()] if children.exists() else []
        found += kids
        todo += kids
    return found


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _umount(path: Path) -> None:
    # Lazy: a process that just left may still hold a file for a moment.
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@contextlib.contextmanager
def overlay(base: Path, work: Path) -> Iterator[Path]:
    """A writable root whose changes land in `work`, leaving `base` untouched."""
    upper, scratch, merged = work / "upper", work / "work", work / "root"
    for d in (upper, scratch, merged):
        d.mkdir(parents=True)
    try:
        _mount(
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={base},upperdir={upper},workdir={scratch}",
            str(merged),
        )
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"cannot mount an overlay root here: {exc.stderr.strip()}") from None
    try:
        yield merged
    finally:
        _umount(merged)


class Chroot:
    """Commands run inside the root with chroot; /proc and /dev are mounted for each call."""

    def __init__(self, root: Path, transcript: Transcript) -> None:
        self.root = root
        self.transcript = transcript

    @contextlib.contextmanager
    def _mounted(self, apt_cache: bool) -> Iterator[None]:
        mounts: list[Path] = []
        binds = [("/dev", "dev"), ("/dev/pts", "dev/pts")]
        if apt_cache:
            for sub in ("apt-archives/partial", "apt-lists/partial"):
                (CACHE / sub).mkdir(parents=True, exist_ok=True)
            binds += [
                (str(CACHE / "apt-archives"), "var/cache/apt/archives"),
                (str(CACHE / "apt-lists"), "var/lib/apt/lists"),
            ]
        try:
            _mount("-t", "proc", "proc", str(self.root / "proc"))
            mounts.append(self.root / "proc")
            for src, dest in binds:
                _mount("--bind", src, str(self.root / dest))
                mounts.append(self.root / dest)
            yield
        finally:
            for path in reversed(mounts):
                _umount(path)

    def run(
        self, script: str, *, apt_cache: bool = False, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell script as root in the root, and log it in the transcript."""
        with self._mounted(apt_cache):
            proc = subprocess.run(
                ["chroot", str(self.root), "/bin/sh", "-c", script],
                env=ROOT_ENV,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        self.transcript.add("chroot", script, proc)
        return proc

    def apt_install(self, depends: str, *packages: str) -> None:
        """Install a Depends: line's packages plus `packages` (caller holds cache_lock)."""
        (self.root / "etc/resolv.conf").write_text(Path("/etc/resolv.conf").read_text())
        # Our own stamp: apt gives the lists the mirror's dates, not the download's.
        stamp = CACHE / "apt-lists/.updated"
        have_lists = any((CACHE / "apt-lists").glob("*_Packages*"))
        if not stamp.exists() or time.time() - stamp.stat().st_mtime > LISTS_MAX_AGE_S:
            update = self.run("apt-get update -qq", apt_cache=True)
            if update.returncode == 0:
                stamp.touch()
            elif not have_lists:
                raise Unavailable(f"apt-get update in the root failed: {update.stderr[-300:]}")
        satisfy = self.run(
            f"apt-get satisfy -y -qq --no-install-recommends '{depends}' >/dev/null"
            f" && apt-get install -y -qq --no-install-recommends {' '.join(packages)}"
            " >/dev/null",
            apt_cache=True,
            timeout=900,
        )
        if satisfy.returncode != 0:
            raise Unavailable(f"apt-get in the root failed: {satisfy.stderr[-300:]}")


def prepared_root(depends: str, packages: tuple[str, ...], transcript: Transcript) -> Path:
    """The pristine root plus what apt installs for a Depends: line and `packages`.

    Cached per that list (a new Depends makes a new one) and renewed weekly, so bookworm's
    point releases come in; the runs in between mount it read-only under their overlay.
    """
    base = base_root()
    key = hashlib.sha256("\n".join([depends, *packages]).encode()).hexdigest()[:12]
    ready, stamp = CACHE / f"deps-{key}", CACHE / f"deps-{key}.ready"
    with cache_lock():
        if stamp.exists() and time.time() - stamp.stat().st_mtime < DEPS_MAX_AGE_S:
            transcript.lines.append(f"(apt: {depends}, {' '.join(packages)}: cached in {ready})")
            return ready
        for old in CACHE.glob("deps-*"):
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        partial = CACHE / "deps.partial"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(["cp", "-a", str(base), str(partial)], check=True)
        try:
            Chroot(partial, transcript).apt_install(depends, *packages)
        except Unavailable:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.rename(ready)
        stamp.touch()
        return ready


class Container:
    """The root booted with systemd-nspawn; commands enter it with nsenter."""

    def __init__(self, root: Path, log: Path, transcript: Transcript) -> None:
        self.transcript = transcript
        self._log = log.open("w")
        self._nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "--quiet",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "-D",
                str(root),
                "-b",
                "--console=pipe",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.leader = self._find_leader()
        # Wait for the boot to finish ("running", or "degraded" when a unit failed); the
        # first calls may come before systemd listens on its socket.
        deadline, state = time.monotonic() + 120, ""
        while time.monotonic() < deadline and state not in ("running", "degraded"):
            proc = self.run("systemctl is-system-running --wait", timeout=120, log=False)
            state = proc.stdout.strip()
            if state not in ("running", "degraded"):
                time.sleep(0.5)
        if state not in ("running", "degraded"):
            self.stop()
            raise Unavailable(f"the container did not finish booting: {state!r}")

    def _find_leader(self) -> int:
        """The container's PID 1 (systemd), a child of nspawn's own child once it has booted."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                self._log.flush()
                raise Unavailable(f"systemd-nspawn exited {self._nspawn.returncode} at boot")
            for pid in _descendants(self._nspawn.pid):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return pid
            time.sleep(0.2)
        self.stop()
        raise Unavailable("systemd-nspawn started no systemd within 30 s")

    def run(
        self, script: str, *, timeout: float = 120, log: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell script as root inside the booted container."""
        proc = subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.leader),
                "-a",
                "/usr/bin/env",
                "-i",
                *(f"{k}={v}" for k, v in ROOT_ENV.items()),
                "/bin/sh",
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if log:
            self.transcript.add("booted", script, proc)
        return proc

    def wait_for(self, script: str, timeout: float = 60) -> bool:
        """Poll until `script` exits 0."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(script, log=False).returncode == 0:
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        """Shut the container down (nspawn turns SIGTERM into a clean poweroff)."""
        if self._nspawn.poll() is None:
            self._nspawn.send_signal(signal.SIGTERM)
            try:
                self._nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._nspawn.kill()
                self._nspawn.wait(timeout=10)
        self._log.close()
