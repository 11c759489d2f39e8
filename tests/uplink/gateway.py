"""The uplink's parts put together as the daemon does, for tests without the daemon:
an outbox store, the command processor behind an inbound router, and the MQTT session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from edge.clock import Clock
from edge.config.model import Uplink as UplinkSettings
from edge.storage import Database, kv
from edge.uplink import (
    BirthProvider,
    CmdResBody,
    Command,
    CommandProcessor,
    Enqueued,
    Guardrail,
    Handler,
    InboundRouter,
    Outbox,
    Uplink,
    outbox_config,
)
from edge.uplink.commands import SignatureCheck
from edge.uplink.contract import QueuedBody
from edge.uplink.inbound import InboundHandler
from edge.uplink.link import LinkState
from edge.uplink.signing import Verifier


@dataclass(frozen=True)
class Status:
    connected: bool
    session: int
    outbox_depth: int
    last_error: str | None
    reconnects: int
    broker: str
    auth_failure: str | None


class Gateway:
    """`async with Gateway(settings, site=..., ...) as gw:` then `gw.put_nowait(...)`."""

    def __init__(
        self,
        settings: UplinkSettings,
        *,
        site: str,
        gateway: str,
        db: Database,
        clock: Clock,
        birth: BirthProvider,
        handlers: Mapping[str, Handler] | None = None,
        guardrail: Guardrail | None = None,
        verifier: SignatureCheck | None = None,
    ) -> None:
        self.settings = settings
        self._ids = (site, gateway)
        self._db = db
        self._clock = clock
        self._birth = birth
        self.link = LinkState()
        self.outbox = Outbox(db, clock, outbox_config(settings))
        keys = {k.kid: k.public_key for k in settings.command_keys}
        self.commands = CommandProcessor(
            db,
            clock,
            self._respond,
            {"rebirth": self._rebirth, **(handlers or {})},
            verifier=verifier or Verifier(keys, required=bool(keys)),
            guardrail=guardrail,
            max_payload=settings.max_payload,
            max_lifetime_s=lambda: settings.command_max_lifetime_s,
        )
        self._inbound: dict[str, InboundHandler] = {}
        self._router: InboundRouter | None = None
        self.mqtt: Uplink | None = None

    def on_message(self, subtopic: str, handler: InboundHandler) -> None:
        self._inbound[subtopic] = handler

    async def _respond(self, res: CmdResBody) -> None:
        await self.outbox.put(res)

    async def _rebirth(self, cmd: Command) -> dict[str, Any]:
        return {"sent": self.link.request_rebirth(), "session": self.link.session}

    async def __aenter__(self) -> Gateway:
        await self.outbox.__aenter__()
        self._router = InboundRouter(self.commands, self._inbound)
        await self._router.__aenter__()
        site, gateway = self._ids
        self.mqtt = Uplink(
            self.settings,
            site=site,
            gateway=gateway,
            db=self._db,
            clock=self._clock,
            outbox=self.outbox,
            inbound=self._router,
            birth=self._birth,
            link=self.link,
        )
        await self.mqtt.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.mqtt is not None:
                await self.mqtt.__aexit__(exc_type, exc, tb)
        finally:
            try:
                if self._router is not None:
                    await self._router.__aexit__(exc_type, exc, tb)
            finally:
                await self.outbox.__aexit__(exc_type, exc, tb)

    @property
    def session(self) -> int:
        """The MQTT session number (bumped on every connect)."""
        return self.link.session

    @property
    def connected_event(self) -> Any:
        assert self.mqtt is not None
        return self.mqtt.connected_event

    @property
    def topics(self) -> Any:
        assert self.mqtt is not None
        return self.mqtt.topics

    def put_nowait(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        return self.outbox.put_nowait(body, ts)

    async def put(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        return await self.outbox.put(body, ts)

    async def attempts(self) -> int:
        """Connection attempts so far (each bumps the persisted session)."""
        value = await self._db.run(lambda c: kv.get(c, "uplink.session"))
        return int(value or 0)

    async def status(self) -> Status:
        link = self.link
        return Status(
            link.connected,
            link.session,
            self.outbox.depth,
            link.last_error,
            link.reconnects,
            link.broker,
            link.auth_failure,
        )
