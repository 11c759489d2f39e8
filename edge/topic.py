"""Typed in-process topics: what flows between the daemon's components.

A producer calls `topic.publish(item)`; a consumer subscribes for the length of its
run, with `with topic.subscribe(callback):`, so a restarted or replaced component can
never leave a listener behind. Delivery is synchronous, in the producer's loop turn
(the fire alarm -> life-safety path relies on it), and one failing subscriber never
keeps an item from the others.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
log = structlog.get_logger("edge.topic")


class Subscription:
    """An active subscription; leaving its `with` block (or `close()`) ends it."""

    def __init__(self, close: Callable[[], None]) -> None:
        self._close: Callable[[], None] | None = close

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Topic(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Callable[[T], None]] = []

    def subscribe(self, callback: Callable[[T], None]) -> Subscription:
        """Deliver every item published from now on to `callback` until closed."""
        entry = callback  # the same callable may subscribe twice: remove one entry each
        self._subscribers.append(entry)

        def close() -> None:
            for i, s in enumerate(self._subscribers):
                if s is entry:
                    del self._subscribers[i]
                    return

        return Subscription(close)

    def publish(self, item: T) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(item)
            except Exception:  # one faulty subscriber must not starve the others
                log.exception("subscriber_failed", topic=self.name)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
