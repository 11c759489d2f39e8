"""A bounded memory spill: what a store accepted but has not (yet) written to disk.

While the disk works, the spill is just the group-commit batch and empties every commit. When
commits fail (a full card), it holds what was accepted, in order, until a commit succeeds. It
is bounded in messages and bytes; beyond a bound the oldest evictable entry of the lowest
priority goes first (never one more important than the newcomer), and when nothing may go the
newcomer is refused. Every drop is counted by the caller, which reports it.

Each entry has a state: QUEUED (waiting), COMMITTING (in the transaction being tried), SENDING
(handed out for delivery straight from memory while the disk is failing), or gone (DONE,
DROPPED). Deques are cleaned lazily from the left, so every operation is amortised O(1) except
the eviction scan, which only runs while the spill is full.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class HeldState(Enum):
    QUEUED = "queued"
    COMMITTING = "committing"
    SENDING = "sending"
    DONE = "done"
    DROPPED = "dropped"


_GONE = (HeldState.DONE, HeldState.DROPPED)


@dataclass(frozen=True, slots=True)
class SpillLimits:
    """Bounds of the memory spill (the unit's MemoryMax is 256 MB)."""

    max_messages: int = 20_000
    """Most messages held in memory while the disk refuses writes."""
    max_bytes: int = 16 * 1024 * 1024
    """Most payload bytes held in memory."""


@dataclass(slots=True, eq=False)
class Held(Generic[T]):
    index: int
    """Position in acceptance order, from 1; never reused."""
    prio: int
    """Smaller is more important (alarm 0 ... state 4)."""
    evictable: bool
    size: int
    item: T
    state: HeldState = HeldState.QUEUED


@dataclass(slots=True)
class Added(Generic[T]):
    held: Held[T] | None
    """None: refused (the spill is full of what may not be dropped)."""
    evicted: list[Held[T]] = field(default_factory=list)


class Spill(Generic[T]):
    def __init__(self, limits: SpillLimits | None = None) -> None:
        self.limits = limits or SpillLimits()
        self._queue: deque[Held[T]] = deque()
        self._by_prio: dict[int, deque[Held[T]]] = {}
        self._evictable: dict[int, deque[Held[T]]] = {}
        self._last_index = 0
        self._dead = 0
        self.messages = 0
        """Entries not yet on disk nor delivered (QUEUED, COMMITTING, SENDING)."""
        self.bytes = 0

    # ------------------------------------------------------------------ adding

    @property
    def last_index(self) -> int:
        return self._last_index

    def add(
        self, prio: int, evictable: bool, size: int, item: T, *, bounded: bool = True
    ) -> Added[T]:
        """Hold `item`, evicting older less important entries if a bound is reached.

        `bounded=False` while the disk works: then the spill is only the group-commit batch,
        emptied at every commit, and a burst must not be refused for being a burst.
        """
        self._last_index += 1
        victims: list[Held[T]] = []
        if bounded and self._over(self.messages, self.bytes, size):
            messages, size_now = self.messages, self.bytes
            for victim in self._victims(prio, evictable):
                victims.append(victim)
                messages, size_now = messages - 1, size_now - victim.size
                if not self._over(messages, size_now, size):
                    break
            else:
                return Added(None)  # refused, nothing dropped; its index stays used, like its seq
        for victim in victims:
            self._drop(victim)
        held = Held(self._last_index, prio, evictable, size, item)
        self._queue.append(held)
        self._by_prio.setdefault(prio, deque()).append(held)
        if evictable:
            self._evictable.setdefault(prio, deque()).append(held)
        self.messages += 1
        self.bytes += size
        return Added(held, victims)

    def _over(self, messages: int, size_now: int, size: int) -> bool:
        return messages + 1 > self.limits.max_messages or size_now + size > self.limits.max_bytes

    def _victims(self, prio: int, evictable: bool) -> Iterator[Held[T]]:
        """QUEUED evictable entries that may go to make room for a newcomer of priority
        `prio`: least important priority first, oldest first (an evictable newcomer only
        displaces entries at most as important as itself)."""
        for p in sorted(self._evictable, reverse=True):
            if evictable and p < prio:
                return
            dq = self._evictable[p]
            _trim(dq)
            for held in dq:
                if held.state is HeldState.QUEUED:
                    yield held

    def _drop(self, held: Held[T]) -> None:
        held.state = HeldState.DROPPED
        self._gone(held)

    def _gone(self, held: Held[T]) -> None:
        self.messages -= 1
        self.bytes -= held.size
        self._dead += 1
        if self._dead > 1024 and self._dead > self.messages:
            self._compact()

    # ------------------------------------------------------------------ committing

    def take_for_commit(self, limit: int) -> list[Held[T]]:
        """Up to `limit` QUEUED entries in acceptance order, now COMMITTING."""
        _trim(self._queue)
        batch: list[Held[T]] = []
        for held in self._queue:
            if len(batch) >= limit:
                break
            if held.state is HeldState.QUEUED:
                held.state = HeldState.COMMITTING
                batch.append(held)
        return batch

    def committed(self, batch: list[Held[T]]) -> None:
        for held in batch:
            held.state = HeldState.DONE
            self._gone(held)
        self._trim_all()

    def commit_failed(self, batch: list[Held[T]]) -> None:
        for held in batch:
            held.state = HeldState.QUEUED

    def oldest_unsaved(self) -> int | None:
        """Index of the oldest entry waiting for the disk (QUEUED or COMMITTING), or None."""
        _trim(self._queue)
        for held in self._queue:
            if held.state in (HeldState.QUEUED, HeldState.COMMITTING):
                return held.index
        return None

    def has_queued(self) -> bool:
        return any(h.state is HeldState.QUEUED for h in self._queue)

    # ------------------------------------------------------------------ sending from memory

    def best_sendable(self) -> Held[T] | None:
        """The most important, oldest QUEUED entry (not marked)."""
        for p in sorted(self._by_prio):
            dq = self._by_prio[p]
            _trim(dq)
            for held in dq:
                if held.state is HeldState.QUEUED:
                    return held
        return None

    def sending(self, held: Held[T]) -> None:
        held.state = HeldState.SENDING

    def delivered(self, held: Held[T]) -> bool:
        """The broker acknowledged `held`: it never needs the disk. False if not SENDING."""
        if held.state is not HeldState.SENDING:
            return False
        held.state = HeldState.DONE
        self._gone(held)
        self._trim_all()
        return True

    def unsend_all(self) -> None:
        """The link dropped: what was being sent from memory waits again."""
        for held in self._queue:
            if held.state is HeldState.SENDING:
                held.state = HeldState.QUEUED

    # ------------------------------------------------------------------ views

    def live(self) -> Iterator[Held[T]]:
        return (h for h in self._queue if h.state not in _GONE)

    def _trim_all(self) -> None:
        _trim(self._queue)
        for dq in self._by_prio.values():
            _trim(dq)
        for dq in self._evictable.values():
            _trim(dq)

    def _compact(self) -> None:
        """Rebuild the deques when dead entries pile up behind a long-lived one."""
        self._queue = deque(self.live())
        self._by_prio = {p: deque(h for h in dq if h.state not in _GONE)
                         for p, dq in self._by_prio.items()}  # fmt: skip
        self._evictable = {p: deque(h for h in dq if h.state not in _GONE)
                           for p, dq in self._evictable.items()}  # fmt: skip
        self._dead = 0


def _trim(dq: deque[Held[T]]) -> None:
    while dq and dq[0].state in _GONE:
        dq.popleft()
