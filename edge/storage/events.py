"""What the database tells the daemon: health transitions, a recreated file, a failed check.

Listeners subscribe with `db.subscribe(listener)`, which returns its own unsubscribe (no
global registry). Events are a closed union, so a consumer can `match` on them exhaustively.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Generic, Literal, TypeVar

import structlog

from edge.storage.errors import Fault

log = structlog.get_logger("edge.storage")
E = TypeVar("E")


class HealthState(Enum):
    OK = "ok"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class HealthView:
    """The database's write health as the daemon sees it (`db.health`)."""

    state: HealthState
    failing_since: datetime | None
    """When the first failure of the current failing spell happened (None while OK)."""
    last_error: str | None
    """The latest failure's message (kept after recovery, for `edgectl status`)."""
    last_fault: Fault | None
    last_good_commit: datetime | None
    """The latest commit that reached the disk (None before the first one)."""
    failures: int
    """Failed jobs in the current failing spell (0 while OK)."""


@dataclass(frozen=True, slots=True)
class StorageFailing:
    """The first write failure after a good spell: raise `storage_error`."""

    health: HealthView


@dataclass(frozen=True, slots=True)
class StorageRecovered:
    """The first good commit after failures: clear `storage_error`."""

    health: HealthView
    failed_for_s: float


@dataclass(frozen=True, slots=True)
class FileRecreated:
    """The database file was deleted or replaced under the running daemon and recreated.

    `copied` is True when everything the daemon had written was copied from the still-open
    old file into the new one (nothing lost); False when the new file started empty and only
    what the stores' restorers wrote back is in it.
    """

    path: Path
    reason: Literal["deleted", "replaced"]
    copied: bool
    foreign_moved_to: Path | None
    """Where a file found in our place was moved (for `replaced`)."""
    detail: str


@dataclass(frozen=True, slots=True)
class IntegrityProblem:
    """The full integrity check (run in the background after start) found damage."""

    path: Path
    detail: str
    seconds: float


StorageEvent = StorageFailing | StorageRecovered | FileRecreated | IntegrityProblem


class Listeners(Generic[E]):
    """A small fan-out: `subscribe` returns its own unsubscribe; a listener's bug is logged."""

    def __init__(self) -> None:
        self._items: list[Callable[[E], None]] = []

    def subscribe(self, listener: Callable[[E], None]) -> Callable[[], None]:
        self._items.append(listener)

        def unsubscribe() -> None:
            if listener in self._items:
                self._items.remove(listener)

        return unsubscribe

    def emit(self, event: E) -> None:
        for listener in list(self._items):
            try:
                listener(event)
            except Exception:  # one faulty listener must not silence the others
                log.exception("storage_listener_failed", event=type(event).__name__)
