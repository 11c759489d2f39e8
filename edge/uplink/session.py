"""The MQTT session: connect, announce, drain the outbox, receive commands and bookings.

`Uplink` is an async context manager. Entering opens the outbox and starts one named task,
`uplink.connection`, that connects forever: jittered exponential backoff capped at
`backoff_cap_s`, and a slow retry (`auth_retry_s`) plus an alarm when the broker refuses our
credentials. On every connect: bump the persisted `session`, subscribe, publish `status`
online (retained; the Last Will says offline with the same session), publish `birth`, then
drain the outbox at QoS 1 with a bounded in-flight window. A message leaves the outbox only
after its PUBACK; after a reconnect, unacknowledged messages go again with the same msg_id.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiomqtt
import msgspec
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import Clock
from edge.storage import Database, StorageError, kv
from edge.uplink.backoff import Backoff
from edge.uplink.commands import CommandProcessor, Guardrail, Handler
from edge.uplink.config import UplinkConfig
from edge.uplink.contract import (
    AlarmBody,
    Birth,
    BirthBody,
    CmdResBody,
    Command,
    QueuedBody,
    Status,
    Topics,
)
from edge.uplink.outbox import NOT_LIVE, Enqueued, Outbox, Row
from edge.uplink.signing import Verifier

log = structlog.get_logger("edge.uplink")

BirthProvider = Callable[[], Awaitable[BirthBody]]
"""Returns the full inventory (zones, devices, points with current values) for `birth`."""
InboundHandler = Callable[[bytes], Awaitable[None]]
"""Handles one inbound payload on a subscribed topic; must not raise for bad input."""

PUBLISH_TIMEOUT_S = 60.0
INBOUND_CONCURRENCY = 16
_AUTH_CODES = {4, 5, 134, 135, 138}  # 3.1.1 bad credentials / not authorised; 5.0 equivalents


@dataclass(frozen=True)
class UplinkStatus:
    """What `edgectl status` shows about the uplink."""

    connected: bool
    session: int
    outbox_depth: int
    oldest_age_s: float | None
    last_error: str | None
    reconnects: int
    broker: str


def _is_auth_failure(exc: BaseException) -> bool:
    rc = getattr(exc, "rc", None)
    value = rc.value if isinstance(rc, ReasonCode) else rc
    return isinstance(exc, MqttConnectError) and value in _AUTH_CODES


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class Uplink:
    """The uplink: `async with Uplink(...) as up:` then `up.put_nowait(EventBody(...))`."""

    def __init__(
        self,
        config: UplinkConfig,
        *,
        site: str,
        gateway: str,
        db: Database,
        clock: Clock,
        birth: BirthProvider,
        handlers: Mapping[str, Handler] | None = None,
        guardrail: Guardrail | None = None,
        on_auth_failure: Callable[[str], None] | None = None,
        software: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics(site, gateway)
        self._client_id = config.client_id or f"edge-{site}-{gateway}"
        self._db = db
        self._clock = clock
        self._birth = birth
        self._on_auth_failure = on_auth_failure
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_cap_s, rng)
        self._rng = rng or random.Random()
        self.outbox = Outbox(db, clock, config.outbox)
        self.commands = CommandProcessor(
            db,
            clock,
            self._respond,
            {"rebirth": self._rebirth_handler, **(handlers or {})},
            verifier=Verifier(
                config.signing.keys, config.signing.required, config.signing.not_after
            ),
            guardrail=guardrail,
            max_payload=config.max_payload,
        )
        self._inbound: dict[str, InboundHandler] = {}
        self._encoder = msgspec.json.Encoder()
        self._client: aiomqtt.Client | None = None
        self._session = 0
        self._will: bytes = b""
        self._last_error: str | None = None
        self._reconnects = 0
        self._auth_alarm = False
        self._tg: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None
        self._inbound_slots = asyncio.Semaphore(INBOUND_CONCURRENCY)
        self.connected_event = asyncio.Event()
        """Set while connected (after status and birth went out); for tests and the daemon."""

    # ------------------------------------------------------------------ wiring

    def on_message(self, subtopic: str, handler: InboundHandler) -> None:
        """Subscribe `handler` to `{root}{subtopic}` (e.g. `bookings`); call before entering."""
        if subtopic.startswith("cmd/"):
            raise ValueError("cmd/ topics are handled by the command processor")
        self._inbound[subtopic] = handler

    def put_nowait(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        """Queue a state/event/alarm/energy/cmd_res body; durable within a few ms."""
        return self.outbox.put_nowait(body, ts)

    async def put(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        """Queue a body and return once it is on disk."""
        return await self.outbox.put(body, ts)

    async def status(self) -> UplinkStatus:
        return UplinkStatus(
            connected=self._client is not None and self.connected_event.is_set(),
            session=self._session,
            outbox_depth=self.outbox.depth,
            oldest_age_s=await self.outbox.oldest_age_s(),
            last_error=self._last_error,
            reconnects=self._reconnects,
            broker=f"{self.config.host}:{self.config.port}",
        )

    @property
    def session(self) -> int:
        return self._session

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Uplink:
        await self._db.migrate(kv.SCHEMA)
        await self.commands.start()
        await self.outbox.__aenter__()
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._main = self._tg.create_task(self._connect_forever(), name="uplink.connection")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._tg is not None and self._main is not None
        client = self._client
        if client is not None and self.connected_event.is_set():
            # A clean stop says offline itself: the broker sends no Will after DISCONNECT.
            try:
                async with asyncio.timeout(2.0):
                    await client.publish(self.topics.up("status"), self._will, qos=1, retain=True)
            except (aiomqtt.MqttError, TimeoutError) as err:
                log.warning("offline_status_not_sent", error=str(err))
        self._main.cancel()
        try:
            await self._tg.__aexit__(None, None, None)
        finally:
            await self.outbox.__aexit__(None, None, None)

    # ------------------------------------------------------------------ connection

    async def _connect_forever(self) -> None:
        while True:
            delay = await self._connect_once()
            log.info("uplink_retry_in", seconds=round(delay, 2))
            await self._clock.sleep(delay)

    def _make_client(self, will: bytes) -> aiomqtt.Client:
        cfg = self.config
        tls_params = None
        if cfg.tls is not None:
            tls_params = aiomqtt.TLSParameters(
                ca_certs=cfg.tls.ca,
                certfile=cfg.tls.cert,
                keyfile=cfg.tls.key,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        v5 = cfg.protocol == 5
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            identifier=self._client_id,
            username=cfg.username,
            password=cfg.read_password(),
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else True,
            keepalive=cfg.keepalive,
            will=aiomqtt.Will(self.topics.up("status"), will, qos=1, retain=True),
            tls_params=tls_params,
            tls_insecure=cfg.tls.insecure if cfg.tls is not None else None,
            max_inflight_messages=cfg.outbox.inflight,
            timeout=cfg.connect_timeout_s,  # CONNACK and SUBACK; publishes pass their own
        )
        # The in-flight window is ours to bound; aiomqtt would warn above 10 pending publishes.
        client.pending_calls_threshold = cfg.outbox.inflight + 10
        return client

    async def _new_session(self) -> tuple[int, bytes, bytes]:
        """Bump the session; the online status and the Will (seqs reserved in order)."""

        def bump(conn: Any) -> tuple[int, int, int]:
            session = kv.bump(conn, "uplink.session")
            online = kv.bump(conn, "uplink.seq.status")
            offline = kv.bump(conn, "uplink.seq.status")
            return session, online, offline

        session, online_seq, offline_seq = await self._db.transaction(bump)
        now = self._clock.now()
        online = self._encoder.encode(
            Status(session=session, seq=online_seq, msg_id=uuid.uuid4().hex, ts=now, online=True)
        )
        will = self._encoder.encode(
            Status(session=session, seq=offline_seq, msg_id=uuid.uuid4().hex, ts=now, online=False)
        )
        return session, online, will

    async def _connect_once(self) -> float:
        """One connection's life; returns how long to wait before the next attempt."""
        try:
            session, online, will = await self._new_session()
        except StorageError as exc:  # a full disk: keep trying, never let the uplink die
            self._last_error = f"cannot start a session: {exc}"
            log.error("uplink_session_not_started", error=str(exc))
            return self._backoff.next()
        try:
            client = self._make_client(will)
        except OSError as exc:  # e.g. unreadable password file or certificate
            self._last_error = f"cannot prepare the connection: {exc}"
            log.error("uplink_config_error", error=str(exc))
            return self.config.auth_retry_s
        error: BaseException | None = None
        try:
            async with client:
                self._session, self._will, self._client = session, will, client
                self._reconnects += 1
                self._backoff.reset()
                await self._announce(client, session, online)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._receive(client), name="uplink.receive")
                    tg.create_task(self._drain(client, session), name="uplink.drain")
        except* aiomqtt.MqttError as group:
            error = _first_leaf(group)
        except* Exception as group:  # a bug or a failing birth provider: log, retry later
            error = _first_leaf(group)
            log.error("uplink_session_failed", error=repr(error), exc_info=error)
        finally:
            self._client = None
            self.connected_event.clear()
            self.outbox.live_session = NOT_LIVE
        if error is None:  # pragma: no cover - the tasks above only end by an error
            return self._backoff.next()
        self._last_error = str(error) or type(error).__name__
        if _is_auth_failure(error):
            self._raise_auth_alarm(self._last_error)
            return self.config.auth_retry_s * (0.9 + 0.2 * self._rng.random())
        log.warning("uplink_disconnected", error=self._last_error, session=session)
        return self._backoff.next()

    def _raise_auth_alarm(self, reason: str) -> None:
        log.error("uplink_auth_failed", reason=reason, retry_s=self.config.auth_retry_s)
        if self._on_auth_failure is not None:
            self._on_auth_failure(reason)
        if not self._auth_alarm:
            self._auth_alarm = True
            self.outbox.put_nowait(
                AlarmBody(
                    alarm_id="uplink_auth",
                    action="raise",
                    severity="major",
                    text=f"broker refused the gateway's credentials: {reason}",
                )
            )

    async def _announce(self, client: aiomqtt.Client, session: int, online: bytes) -> None:
        subs = [(self.topics.cmd_filter, 1)] + [(self.topics.root + t, 1) for t in self._inbound]
        await client.subscribe(subs)
        await client.publish(self.topics.up("status"), online, qos=1, retain=True)
        await self._publish_birth(client, session)
        self.outbox.live_session = session
        self.outbox.rewind()
        self.connected_event.set()
        if self._auth_alarm:
            self._auth_alarm = False
            self.outbox.put_nowait(AlarmBody(alarm_id="uplink_auth", action="clear"))
        log.info("uplink_connected", session=session, depth=self.outbox.depth)

    async def _publish_birth(self, client: aiomqtt.Client, session: int) -> None:
        body = await self._birth()
        seq = await self._db.run(lambda c: kv.bump(c, "uplink.seq.birth"))
        birth = Birth(
            session=session,
            seq=seq,
            msg_id=uuid.uuid4().hex,
            ts=self._clock.now(),
            zones=body.zones,
            devices=body.devices,
            software=body.software,
            config_version=body.config_version,
        )
        await client.publish(self.topics.up("birth"), self._encoder.encode(birth), qos=1)

    async def _drain(self, client: aiomqtt.Client, session: int) -> None:
        window = asyncio.Semaphore(self.config.outbox.inflight)
        async with asyncio.TaskGroup() as tg:
            while True:
                row = await self.outbox.next()
                await window.acquire()
                tg.create_task(self._publish_row(client, session, row, window))

    async def _publish_row(
        self, client: aiomqtt.Client, session: int, row: Row, window: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(
                self.topics.up(row.stream), row.wire(session), qos=1, timeout=PUBLISH_TIMEOUT_S
            )
        finally:
            window.release()
        self.outbox.ack(row)

    # ------------------------------------------------------------------ inbound

    async def _receive(self, client: aiomqtt.Client) -> None:
        assert self._tg is not None
        async for message in client.messages:
            payload = message.payload
            data = (
                payload
                if isinstance(payload, bytes)
                else bytes(payload)
                if isinstance(payload, bytearray)
                else str(payload if payload is not None else "").encode()
            )
            await self._inbound_slots.acquire()
            # Handlers run in the uplink's task group: a dropped link must not cancel a gate.
            self._tg.create_task(self._dispatch(message.topic.value, data), name="uplink.inbound")

    async def _dispatch(self, topic: str, payload: bytes) -> None:
        try:
            rel = self.topics.relative(topic)
            if rel is None:
                log.warning("inbound_outside_root", topic=topic)
            elif rel.startswith("cmd/"):
                await self.commands.handle(topic, rel[4:], payload)
            elif rel in self._inbound:
                await self._inbound[rel](payload)
            else:
                log.warning("inbound_unknown_topic", topic=topic)
        except Exception as exc:  # bad input must never take the uplink down
            log.error("inbound_handler_failed", topic=topic, error=repr(exc))
        finally:
            self._inbound_slots.release()

    async def _respond(self, result: CmdResBody) -> None:
        await self.outbox.put(result)

    async def _rebirth_handler(self, cmd: Command) -> dict[str, Any] | None:
        client = self._client
        if client is None:
            return {"sent": False, "note": "not connected: birth follows on connect"}
        await self._publish_birth(client, self._session)
        return {"sent": True, "session": self._session}

    async def rebirth(self) -> None:
        """Publish a fresh birth now (e.g. after a config reload), when connected."""
        client = self._client
        if client is not None:
            await self._publish_birth(client, self._session)


__all__ = ["BirthProvider", "InboundHandler", "Uplink", "UplinkStatus"]
