"""Storage errors, named for the state of the disk rather than for SQLite's codes.

`classify()` turns a `sqlite3.Error` into one of these when it says something about the
medium (full, read-only, failing, damaged, gone); programming errors (a constraint, bad SQL)
are left as they are, because retrying them cannot help.
"""

from __future__ import annotations

import sqlite3
from enum import Enum


class Fault(Enum):
    """What is wrong with the medium, as far as SQLite can tell."""

    FULL = "full"
    """No space left (SQLITE_FULL): frees up when space returns."""
    READ_ONLY = "read_only"
    """The file or its filesystem refuses writes (SQLITE_READONLY, EROFS)."""
    IO = "io"
    """The device reported an I/O error (SQLITE_IOERR): a failing card or a vanished mount."""
    CORRUPT = "corrupt"
    """The file's content is damaged (SQLITE_CORRUPT, SQLITE_NOTADB)."""
    CANNOT_OPEN = "cannot_open"
    """The file cannot be opened or created (SQLITE_CANTOPEN): a missing or locked directory."""


class StorageError(Exception):
    """The database could not be opened, migrated or written."""


class StorageClosed(StorageError):
    """The database was closed by us (a stop): nothing more is accepted."""


class StorageFault(StorageError):
    """A write or read failed because of the medium; `fault` says how. Retry later."""

    fault: Fault = Fault.IO

    def __init__(self, message: str, *, path: str = "", sqlite_code: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.sqlite_code = sqlite_code


class StorageFull(StorageFault):
    """No space left on the device holding the database."""

    fault = Fault.FULL


class StorageReadOnly(StorageFault):
    """The database file or its filesystem is read-only."""

    fault = Fault.READ_ONLY


class StorageIOError(StorageFault):
    """The device returned an I/O error."""

    fault = Fault.IO


class StorageCorrupt(StorageFault):
    """The file is damaged; salvage happens at the next open."""

    fault = Fault.CORRUPT


class StorageCannotOpen(StorageFault):
    """The file could not be opened or created."""

    fault = Fault.CANNOT_OPEN


# Primary result codes (the low byte of an extended code): https://sqlite.org/rescode.html
_BY_PRIMARY: dict[int, type[StorageFault]] = {
    8: StorageReadOnly,  # SQLITE_READONLY
    10: StorageIOError,  # SQLITE_IOERR
    11: StorageCorrupt,  # SQLITE_CORRUPT
    13: StorageFull,  # SQLITE_FULL
    14: StorageCannotOpen,  # SQLITE_CANTOPEN
    26: StorageCorrupt,  # SQLITE_NOTADB
}


def classify(exc: BaseException, path: str = "") -> StorageFault | None:
    """The typed fault behind `exc`, or None when `exc` is not about the medium."""
    if isinstance(exc, StorageFault):
        return exc
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    kind = _BY_PRIMARY.get(code & 0xFF)
    if kind is None:
        return None
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    where = f" ({path})" if path else ""
    fault = kind(f"{exc}{where}", path=path, sqlite_code=name)
    fault.__cause__ = exc
    return fault
