"""Runs the daemon's components: start in order, restart on crash, replace on reload.

A component is an object with a `name` and `async run(ready)`; it calls `ready()`
once it is serving (an anyio-style start handshake). The supervisor is given a
*factory* per component, never an instance: every (re)start builds a fresh one, so
nothing a crashed run left behind (a listener, a half-filled field) survives into
the next. Start-up waits for each component's `ready()` before starting the next, so
buses come before storage users, the uplink before rules. A crash after start is
logged and the component is restarted with exponential backoff (reset after a minute
of healthy running); it never takes the daemon down. A failure *before* ready during
start-up is raised to the caller as StartFailed.

Stopping cancels the component and waits (bounded) for it to finish; if the caller
itself is cancelled meanwhile, that cancellation is raised once the stop is done,
never swallowed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from drivers.tasks import cancel_and_wait
from edge.clock import Clock

log = structlog.get_logger("edge.supervisor")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 60.0
HEALTHY_RESET_S = 60.0


class Component(Protocol):
    @property
    def name(self) -> str: ...

    async def run(self, ready: Callable[[], None]) -> None: ...


Factory = Callable[[], Component]


class StartFailed(Exception):
    """A component failed before it reported ready during start-up."""

    def __init__(self, name: str, cause: BaseException) -> None:
        super().__init__(f"component '{name}' failed to start: {cause!r}")
        self.name = name
        self.cause = cause


@dataclass
class _Slot:
    factory: Factory
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0
    last_error: str | None = None
    started_at: float = 0.0
    instance: Component | None = None
    """The running instance (for tests and diagnostics only; never a collaborator)."""
    task: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(
        self,
        clock: Clock,
        start_timeout_s: float = 30.0,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._start_timeout = start_timeout_s
        self.backoff_start_s = backoff_start_s
        self.backoff_max_s = backoff_max_s

    @property
    def names(self) -> list[str]:
        return list(self._slots)

    def instance(self, name: str) -> Component | None:
        slot = self._slots.get(name)
        return None if slot is None else slot.instance

    def health(self) -> dict[str, dict[str, object]]:
        return {
            n: {
                "ready": s.ready.is_set(),
                "restarts": s.restarts,
                "last_error": s.last_error,
                "started_at": s.started_at,
            }
            for n, s in self._slots.items()
        }

    async def start(self, name: str, factory: Factory) -> None:
        """Start a fresh `factory()` and wait until it is ready; StartFailed if it dies first."""
        if name in self._slots:
            raise ValueError(f"component '{name}' is already running")
        ready = asyncio.Event()
        first_failure: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        slot = _Slot(factory, ready, started_at=self._clock.monotonic())
        slot.task = asyncio.create_task(
            self._keep_running(name, slot, first_failure), name=f"component:{name}"
        )
        self._slots[name] = slot
        waiter = asyncio.create_task(ready.wait())
        pending: set[asyncio.Future[Any]] = {waiter, first_failure}
        try:
            done, _ = await asyncio.wait(
                pending,
                timeout=self._start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        if first_failure in done and (exc := first_failure.result()) is not None:
            await self.stop(name)
            raise StartFailed(name, exc)
        if not done:
            await self.stop(name)
            raise StartFailed(name, TimeoutError(f"not ready in {self._start_timeout} s"))

    async def _keep_running(
        self, name: str, slot: _Slot, first_failure: asyncio.Future[BaseException | None]
    ) -> None:
        backoff = self.backoff_start_s
        bound = log.bind(component=name)
        while True:
            started = self._clock.monotonic()
            try:
                instance = slot.factory()
                slot.instance = instance
                await instance.run(slot.ready.set)
                bound.warning("component_returned")
                error: str = "returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a component bug must not take the daemon down
                if not slot.ready.is_set() and not first_failure.done():
                    first_failure.set_result(exc)
                    return
                bound.exception("component_crashed")
                error = repr(exc)
            finally:
                slot.instance = None
            slot.restarts += 1
            slot.last_error = error
            if self._clock.monotonic() - started > HEALTHY_RESET_S:
                backoff = self.backoff_start_s
            delay = backoff * random.uniform(0.8, 1.2)
            bound.info("component_restarting", in_s=round(delay, 2))
            await self._clock.sleep(delay)
            backoff = min(backoff * 2, self.backoff_max_s)

    async def stop(self, name: str, timeout_s: float = 3.0) -> None:
        """Cancel `name` and wait for it (at most `timeout_s`).

        A cancellation of the caller while waiting is re-raised after the stop."""
        slot = self._slots.pop(name, None)
        if slot is None or slot.task is None:
            return
        task = slot.task
        if not await cancel_and_wait(task, timeout_s):
            log.error("component_stop_timeout", component=name, timeout_s=timeout_s)
        elif not task.cancelled() and (exc := task.exception()) is not None:
            log.error("component_stop_failed", component=name, error=repr(exc))

    async def replace(self, name: str, factory: Factory) -> None:
        """Stop the running component `name` (if any) and start a fresh one."""
        await self.stop(name)
        await self.start(name, factory)

    async def stop_all(self, timeout_s: float = 4.0) -> None:
        """Stop components in reverse start order within `timeout_s` overall."""
        names = list(self._slots)[::-1]
        per = timeout_s / max(1, len(names))
        for name in names:
            await self.stop(name, per)
