"""Inbound routing: `cmd/{name}` to the command processor, other topics to their handlers.

The router outlives any MQTT session: it runs what arrives in its own task group, so a
command that replaces the session (a reload that changes `[uplink]`) still finishes and
answers (through the outbox, a store).

Each topic has a lane: a queue bounded in messages and in payload bytes, drained by its
own workers (16 for commands, one per booking topic). `offer` never waits: a message that
does not fit its lane is dropped and counted (`dropped`), and `on_flood(lane, True, why)`
raises the `inbound_flood` alarm; once the lane has drained, `on_flood(lane, False, ...)`.
So a flood on the broker costs at most the lanes' bytes here, never memory without limit,
and the session keeps reading (a stalled reader would only move the queue into the MQTT
client, unbounded).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import structlog

from edge.uplink.commands import CommandProcessor

log = structlog.get_logger("edge.uplink.inbound")

InboundHandler = Callable[[bytes], Awaitable[None]]
"""Handles one inbound payload on a subscribed topic; must not raise for bad input."""
Flood = Callable[[str, bool, str], None]
"""(lane, active, message) of the `inbound_flood` alarm."""
CONCURRENCY = 16
CMD_LANE = "cmd"
FLOOD_ALARM = "inbound_flood"


@dataclass(frozen=True, slots=True)
class LaneBound:
    """How much one lane may hold while its workers are busy."""

    max_messages: int
    max_bytes: int
    workers: int = 1


COMMAND_BOUND = LaneBound(max_messages=256, max_bytes=4 * 1024 * 1024, workers=CONCURRENCY)
"""Commands are small (64 KiB at most); 256 waiting is minutes of legitimate traffic."""
TOPIC_BOUND = LaneBound(max_messages=8, max_bytes=16 * 1024 * 1024)
"""Booking snapshots may be 4 MiB each; a few waiting is plenty (each supersedes the last)."""


def _no_flood(lane: str, active: bool, message: str) -> None:
    return None


class _Lane:
    def __init__(self, name: str, bound: LaneBound) -> None:
        self.name = name
        self.bound = bound
        self.items: deque[tuple[str, str, bytes]] = deque()
        self.bytes = 0
        self.ready = asyncio.Event()
        self.flooding = False

    def fits(self, size: int) -> bool:
        return (
            len(self.items) < self.bound.max_messages and self.bytes + size <= self.bound.max_bytes
        )


class InboundRouter:
    """`async with InboundRouter(commands, {"bookings": sync.on_snapshot}) as r:`"""

    def __init__(
        self,
        commands: CommandProcessor,
        handlers: Mapping[str, InboundHandler] | None = None,
        concurrency: int = CONCURRENCY,
        *,
        command_bound: LaneBound | None = None,
        topic_bound: LaneBound = TOPIC_BOUND,
        on_flood: Flood = _no_flood,
    ) -> None:
        for name in handlers or {}:
            if name.startswith("cmd/"):
                raise ValueError("cmd/ topics are handled by the command processor")
        self._commands = commands
        self._handlers = dict(handlers or {})
        self._bounds = {CMD_LANE: command_bound or LaneBound(
            COMMAND_BOUND.max_messages, COMMAND_BOUND.max_bytes, concurrency
        )}  # fmt: skip
        self._bounds |= dict.fromkeys(self._handlers, topic_bound)
        self._on_flood = on_flood
        self._lanes: dict[str, _Lane] = {}
        self.dropped: dict[str, int] = dict.fromkeys(self._bounds, 0)
        """Messages dropped per lane since start (did not fit the lane's bound)."""
        self._tg: asyncio.TaskGroup | None = None
        self._closing = False

    @property
    def subscriptions(self) -> Sequence[str]:
        return ["cmd/+", *self._handlers]

    def depth(self, lane: str) -> tuple[int, int]:
        """(messages, bytes) waiting in `lane`."""
        q = self._lanes.get(lane)
        return (0, 0) if q is None else (len(q.items), q.bytes)

    async def __aenter__(self) -> InboundRouter:
        await self._commands.start()
        self._lanes = {name: _Lane(name, bound) for name, bound in self._bounds.items()}
        self._closing = False
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        for lane in self._lanes.values():
            for i in range(lane.bound.workers):
                self._tg.create_task(self._work(lane), name=f"uplink.inbound.{lane.name}.{i}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            self._closing = True  # workers finish what is queued (bounded), then stop
            for lane in self._lanes.values():
                lane.ready.set()
            await tg.__aexit__(exc_type, exc, tb)

    def offer(self, full_topic: str, topic: str, payload: bytes) -> None:
        """Queue one message on `topic` (relative to the gateway's root; the full topic is
        what a command's signature binds). Never waits and never raises for bad input: a
        message that does not fit its lane is dropped and counted."""
        if self._tg is None:
            raise RuntimeError("the inbound router is not running")
        name = CMD_LANE if topic.startswith("cmd/") else topic
        lane = self._lanes.get(name)
        if lane is None:
            log.warning("inbound_unknown_topic", topic=topic)
            return
        if not lane.fits(len(payload)):
            self._overflow(lane, len(payload))
            return
        lane.items.append((full_topic, topic, payload))
        lane.bytes += len(payload)
        lane.ready.set()

    def _overflow(self, lane: _Lane, size: int) -> None:
        self.dropped[lane.name] += 1
        count = self.dropped[lane.name]
        if not lane.flooding or count % 1000 == 0:  # log the start, then every 1000th
            log.warning(
                "inbound_flood", lane=lane.name, dropped=count, depth=len(lane.items),
                bytes=lane.bytes, size=size,
            )  # fmt: skip
        if not lane.flooding:
            lane.flooding = True
            b = lane.bound
            self._on_flood(
                lane.name, True,
                f"inbound {lane.name} messages arrive faster than they are handled: dropping "
                f"what does not fit {b.max_messages} messages / {b.max_bytes} bytes "
                f"({count} dropped since start)",
            )  # fmt: skip

    async def _work(self, lane: _Lane) -> None:
        while True:
            while not lane.items:
                if self._closing:
                    return
                if lane.flooding:
                    lane.flooding = False
                    self._on_flood(
                        lane.name, False,
                        f"inbound {lane.name} drained ({self.dropped[lane.name]} dropped "
                        "since start)",
                    )  # fmt: skip
                lane.ready.clear()
                await lane.ready.wait()
            full_topic, topic, payload = lane.items.popleft()
            lane.bytes -= len(payload)
            handler = self._handlers.get(topic)
            try:
                if handler is not None:
                    await handler(payload)
                else:
                    await self._commands.handle(full_topic, topic[4:], payload)
            except Exception as exc:  # bad input must never take the router down
                log.error("inbound_handler_failed", topic=topic, error=repr(exc))
