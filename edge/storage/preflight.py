"""Clear messages for a state directory or database file the daemon cannot write.

`probe_state_dir()` gathers the facts (a stat, a test file created and removed); `explain()` is
a pure function from those facts to problems, each naming the path, what is wrong and the unit
setting or command that fixes it. `state_dir_problems()` does both: the daemon calls it from
the config check and at start-up, and `Database.open` raises with its message.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

UNIT = "edged.service"
STATE_ROOT = "/var/lib/"


@dataclass(frozen=True, slots=True)
class PathFacts:
    """What `probe_state_dir` found; plain data so `explain` is pure and fuzzable."""

    dir: str
    exists: bool
    is_dir: bool
    writable: bool
    """A test file could be created and removed in the directory."""
    write_errno: int | None
    """Why it could not (errno), None when it could or the directory is missing."""
    fs_read_only: bool
    """The directory's filesystem is mounted read-only (statvfs ST_RDONLY)."""
    owner: str
    mode: int
    user: str
    """The user the daemon runs as."""
    db_name: str
    db_exists: bool
    db_writable: bool
    db_errno: int | None
    db_owner: str
    db_mode: int
    read_only_sides: tuple[str, ...] = ()
    """Sidecar files (`-wal`, `-shm`) present but not writable."""


@dataclass(frozen=True, slots=True)
class StorageProblem:
    code: str
    path: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}"


def _name_of_uid(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _try_write_dir(d: Path) -> int | None:
    probe = d / f".edged-write-test-{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as exc:
        return exc.errno or errno.EIO
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError as exc:
        return exc.errno or errno.EIO
    return None


def _try_write_file(f: Path) -> int | None:
    try:
        fd = os.open(f, os.O_WRONLY)  # opens for writing, writes nothing
    except OSError as exc:
        return exc.errno or errno.EIO
    os.close(fd)
    return None


def probe_state_dir(directory: Path, db_name: str = "edged.db") -> PathFacts:
    """Look at the state directory and the database file in it (creates nothing lasting)."""
    user = _name_of_uid(os.geteuid())
    try:
        st = directory.stat()
    except OSError:
        return PathFacts(
            str(directory), False, False, False, None, False, "", 0, user,
            db_name, False, False, None, "", 0,
        )  # fmt: skip
    is_dir = stat.S_ISDIR(st.st_mode)
    write_errno = _try_write_dir(directory) if is_dir else None
    try:
        fs_ro = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        fs_ro = False
    db = directory / db_name
    db_exists = is_dir and db.exists()
    db_errno = _try_write_file(db) if db_exists else None
    db_st = db.stat() if db_exists else None
    sides = tuple(
        db.name + suffix
        for suffix in ("-wal", "-shm")
        if is_dir
        and (db.with_name(db.name + suffix)).exists()
        and _try_write_file(db.with_name(db.name + suffix)) is not None
    )
    return PathFacts(
        dir=str(directory),
        exists=True,
        is_dir=is_dir,
        writable=is_dir and write_errno is None,
        write_errno=write_errno,
        fs_read_only=fs_ro,
        owner=_name_of_uid(st.st_uid),
        mode=stat.S_IMODE(st.st_mode),
        user=user,
        db_name=db_name,
        db_exists=db_exists,
        db_writable=db_exists and db_errno is None,
        db_errno=db_errno,
        db_owner=_name_of_uid(db_st.st_uid) if db_st else "",
        db_mode=stat.S_IMODE(db_st.st_mode) if db_st else 0,
        read_only_sides=sides,
    )


def _unit_setting(d: str) -> str:
    """The unit line that makes `d` exist and be writable under ProtectSystem=strict."""
    if d.startswith(STATE_ROOT) and len(d) > len(STATE_ROOT):
        return f"StateDirectory={d[len(STATE_ROOT) :].strip('/')}"
    return f"ReadWritePaths={d}"


def explain(f: PathFacts) -> list[StorageProblem]:
    """Problems with the state directory and database file, each with its fix. Pure."""
    d = f.dir
    setting = _unit_setting(d)
    if not f.exists:
        return [
            StorageProblem(
                "state_dir_missing",
                d,
                f"state directory {d} does not exist",
                f"add {setting} to {UNIT} (systemd then creates it for user {f.user}), or "
                f"create it: install -d -o {f.user} -m 0750 {d}; or set storage.dir to a "
                "writable directory",
            )
        ]
    if not f.is_dir:
        return [
            StorageProblem(
                "state_dir_not_a_directory",
                d,
                f"state directory {d} is not a directory",
                f"move the file away, or set storage.dir to a directory ({setting})",
            )
        ]
    problems: list[StorageProblem] = []
    if f.fs_read_only or f.write_errno == errno.EROFS:
        problems.append(
            StorageProblem(
                "state_dir_read_only_fs",
                d,
                f"state directory {d} is on a read-only filesystem",
                f"with ProtectSystem=strict only listed paths are writable: add {setting} to "
                f"{UNIT}; if the card itself went read-only (`mount` shows ro), it reported "
                "errors: check `dmesg` and replace it",
            )
        )
    elif not f.writable:
        why = os.strerror(f.write_errno) if f.write_errno is not None else "unknown error"
        problems.append(
            StorageProblem(
                "state_dir_not_writable",
                d,
                f"state directory {d} is not writable by user {f.user} ({why}; owner "
                f"{f.owner}, mode {f.mode:04o})",
                f"{setting} in {UNIT} makes systemd hand it to the service user; or run "
                f"chown -R {f.user} {d}",
            )
        )
    if f.db_exists and not f.db_writable and not problems:
        db = str(Path(d) / f.db_name)
        why = os.strerror(f.db_errno) if f.db_errno is not None else "unknown error"
        problems.append(
            StorageProblem(
                "database_read_only",
                db,
                f"database {db} is read-only for user {f.user} ({why}; owner {f.db_owner}, "
                f"mode {f.db_mode:04o})",
                f"run chown {f.user} {db}* and chmod u+rw {db}* (a copy restored as root "
                f"keeps root as owner); {setting} in {UNIT} fixes ownership at each start",
            )
        )
    if f.read_only_sides and not problems:
        names = ", ".join(str(Path(d) / s) for s in f.read_only_sides)
        problems.append(
            StorageProblem(
                "database_sidecar_read_only",
                names,
                f"{names} not writable by user {f.user} (SQLite must write its WAL and "
                "shared-memory files)",
                f"run chown {f.user} {Path(d) / f.db_name}*; {setting} in {UNIT} fixes "
                "ownership at each start",
            )
        )
    return problems


def state_dir_problems(directory: Path, db_name: str = "edged.db") -> list[StorageProblem]:
    """Probe and explain: empty when the daemon can keep its database in `directory`."""
    return explain(probe_state_dir(directory, db_name))
