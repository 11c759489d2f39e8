"""Inbound routing: `cmd/{name}` to the command processor, other topics to their handlers.

The router outlives any MQTT session: it runs what arrives in its own task group, so a
command that replaces the session (a reload that changes `[uplink]`) still finishes and
answers (through the outbox, a store). The session only waits for a free slot, which
bounds how much inbound work is in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType

import structlog

from edge.uplink.commands import CommandProcessor

log = structlog.get_logger("edge.uplink.inbound")

InboundHandler = Callable[[bytes], Awaitable[None]]
"""Handles one inbound payload on a subscribed topic; must not raise for bad input."""
CONCURRENCY = 16


class InboundRouter:
    """`async with InboundRouter(commands, {"bookings": sync.on_snapshot}) as r:`"""

    def __init__(
        self,
        commands: CommandProcessor,
        handlers: Mapping[str, InboundHandler] | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        for name in handlers or {}:
            if name.startswith("cmd/"):
                raise ValueError("cmd/ topics are handled by the command processor")
        self._commands = commands
        self._handlers = dict(handlers or {})
        self._slots = asyncio.Semaphore(concurrency)
        self._tg: asyncio.TaskGroup | None = None

    @property
    def subscriptions(self) -> Sequence[str]:
        return ["cmd/+", *self._handlers]

    async def __aenter__(self) -> InboundRouter:
        await self._commands.start()
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            await tg.__aexit__(exc_type, exc, tb)

    async def deliver(self, full_topic: str, topic: str, payload: bytes) -> None:
        """Start handling one message on `topic` (relative to the gateway's root; the full
        topic is what a command's signature binds). Waits for a free slot; never raises
        for bad input."""
        if self._tg is None:
            raise RuntimeError("the inbound router is not running")
        handler = self._handlers.get(topic)
        if handler is None and not topic.startswith("cmd/"):
            log.warning("inbound_unknown_topic", topic=topic)
            return
        await self._slots.acquire()
        work = (
            handler(payload)
            if handler is not None
            else self._commands.handle(full_topic, topic[4:], payload)
        )
        self._tg.create_task(self._run(topic, work), name="uplink.inbound")

    async def _run(self, topic: str, work: Awaitable[object]) -> None:
        try:
            await work
        except Exception as exc:  # bad input must never take the router down
            log.error("inbound_handler_failed", topic=topic, error=repr(exc))
        finally:
            self._slots.release()
