"""Runs the daemon's components: start in order, restart on crash, replace on reload.

A component is an object with a `name` and `async run(ready)`; it calls `ready()`
once it is serving (an anyio-style start handshake). Start-up waits for each
component's `ready()` before starting the next, so buses come before storage users,
the uplink before rules. A crash after start is logged and the component is restarted
with exponential backoff (reset after a minute of healthy running); it never takes
the daemon down. A failure *before* ready during start-up is raised to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from edge.clock import Clock

log = structlog.get_logger("edge.supervisor")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 60.0
HEALTHY_RESET_S = 60.0


class Component(Protocol):
    name: str

    async def run(self, ready: Callable[[], None]) -> None: ...


class StartFailed(Exception):
    """A component failed before it reported ready during start-up."""

    def __init__(self, name: str, cause: BaseException) -> None:
        super().__init__(f"component '{name}' failed to start: {cause!r}")
        self.name = name
        self.cause = cause


@dataclass
class _Slot:
    component: Component
    task: asyncio.Task[None]
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0
    last_error: str | None = None
    started_at: float = 0.0


class Supervisor:
    def __init__(self, clock: Clock, start_timeout_s: float = 30.0) -> None:
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._start_timeout = start_timeout_s

    @property
    def names(self) -> list[str]:
        return list(self._slots)

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

    async def start(self, component: Component) -> None:
        """Start `component` and wait until it is ready; raise StartFailed if it dies first."""
        if component.name in self._slots:
            raise ValueError(f"component '{component.name}' is already running")
        ready = asyncio.Event()
        first_failure: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        task = asyncio.create_task(self._keep_running(component, ready, first_failure))
        task.set_name(f"component:{component.name}")
        self._slots[component.name] = _Slot(
            component, task, ready, started_at=self._clock.monotonic()
        )
        waiter = asyncio.create_task(ready.wait())
        pending: set[asyncio.Future[Any]] = {waiter, first_failure}
        done, _ = await asyncio.wait(
            pending,
            timeout=self._start_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        if first_failure in done and (exc := first_failure.result()) is not None:
            await self.stop(component.name)
            raise StartFailed(component.name, exc)
        if not done:
            await self.stop(component.name)
            raise StartFailed(component.name, TimeoutError(f"not ready in {self._start_timeout} s"))

    async def _keep_running(
        self,
        component: Component,
        ready: asyncio.Event,
        first_failure: asyncio.Future[BaseException | None],
    ) -> None:
        backoff = BACKOFF_START_S
        bound = log.bind(component=component.name)
        while True:
            started = self._clock.monotonic()
            try:
                await component.run(ready.set)
                bound.warning("component_returned")
                error: str = "returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a component bug must not take the daemon down
                if not ready.is_set() and not first_failure.done():
                    first_failure.set_result(exc)
                    return
                bound.exception("component_crashed")
                error = repr(exc)
            slot = self._slots.get(component.name)
            if slot is not None:
                slot.restarts += 1
                slot.last_error = error
            if self._clock.monotonic() - started > HEALTHY_RESET_S:
                backoff = BACKOFF_START_S
            delay = backoff * random.uniform(0.8, 1.2)
            bound.info("component_restarting", in_s=round(delay, 2))
            await self._clock.sleep(delay)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def stop(self, name: str, timeout_s: float = 3.0) -> None:
        slot = self._slots.pop(name, None)
        if slot is None:
            return
        slot.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(slot.task), timeout_s)

    async def replace(self, component: Component) -> None:
        """Stop the running component of the same name (if any) and start this one."""
        await self.stop(component.name)
        await self.start(component)

    async def stop_all(self, timeout_s: float = 4.0) -> None:
        """Stop components in reverse start order within `timeout_s` overall."""
        names = list(self._slots)[::-1]
        per = timeout_s / max(1, len(names))
        for name in names:
            await self.stop(name, per)
