"""The MQTT session: connect, announce, drain the outbox, hand inbound messages on.

Transport only. The outbox is a store it is given (what the daemon queued while no
session ran is still there); inbound payloads go to the `Inbound` it is given (the
daemon's command processor and booking sync), so the transport decides nothing.

`Uplink` is an async context manager. Entering starts one named task,
`uplink.connection`, that connects forever: jittered exponential backoff capped at
`backoff_cap_s`, and a slow retry (`auth_retry_s`) when the broker refuses our
credentials (reported in `LinkState.auth_failure`, which raises an alarm). On every
connect: bump the persisted `session`, subscribe, publish `status` online (retained; the
Last Will says offline with the same session), publish `birth` (retained, a head and
parts: edge.uplink.birth), then drain the outbox at QoS 1 with a bounded in-flight
window. A message leaves the outbox only after its PUBACK; after a reconnect,
unacknowledged messages go again with the same msg_id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aiomqtt
import msgspec
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from drivers.tasks import cancel_and_wait
from edge.clock import Clock
from edge.config.model import Uplink as UplinkSettings
from edge.storage import Database, StorageError, kv
from edge.uplink.backoff import Backoff
from edge.uplink.birth import MESSAGE_LIMIT, split
from edge.uplink.contract import RETAINED_STREAMS, Birth, BirthBody, BirthPart, Status, Topics
from edge.uplink.link import LinkState
from edge.uplink.outbox import NOT_LIVE, Outbox, Row

log = structlog.get_logger("edge.uplink")

BirthProvider = Callable[[], Awaitable[BirthBody]]
"""Returns the full inventory (zones, devices, points with current values) for `birth`."""


class Inbound(Protocol):
    """Where inbound messages go: the topics to subscribe (relative to the gateway's
    root, e.g. `cmd/+`, `bookings`) and an offer (full and relative topic, payload) that
    never waits and must not raise for bad input: it is called as paho parses each
    message, and queues (bounded) or drops and counts."""

    @property
    def subscriptions(self) -> Sequence[str]: ...

    def offer(self, full_topic: str, topic: str, payload: bytes) -> None: ...


PUBLISH_TIMEOUT_S = 60.0
BIRTH_PARTS_KEY = "uplink.birth.parts"
"""How many retained parts the last birth left on the broker (the surplus is cleared)."""

_MQTT_LOG = logging.getLogger("edge.uplink.mqtt")
_AUTH_CODES = {4, 5, 134, 135, 138}  # 3.1.1 bad credentials / not authorised; 5.0 equivalents


def _routing_queue(take: Callable[[aiomqtt.Message], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's `queue_type`: a queue whose put hands each message to `take` at once."""

    class RoutingQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            take(item)

    return RoutingQueue


def _is_auth_failure(exc: BaseException) -> bool:
    rc = getattr(exc, "rc", None)
    value = rc.value if isinstance(rc, ReasonCode) else rc
    return isinstance(exc, MqttConnectError) and value in _AUTH_CODES


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class Uplink:
    """The session: `async with Uplink(settings, ..., outbox=..., inbound=...) as up:`."""

    def __init__(
        self,
        settings: UplinkSettings,
        *,
        site: str,
        gateway: str,
        db: Database,
        clock: Clock,
        outbox: Outbox,
        inbound: Inbound,
        birth: BirthProvider,
        link: LinkState | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = settings
        self.topics = Topics(site, gateway)
        self._client_id = settings.client_id or f"edge-{site}-{gateway}"
        self._db = db
        self._clock = clock
        self.outbox = outbox
        self._inbound = inbound
        self._birth = birth
        self.link = link if link is not None else LinkState()
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_cap_s, rng)
        self._rng = rng or random.Random()
        self._encoder = msgspec.json.Encoder()
        self._client: aiomqtt.Client | None = None
        self._session = 0
        self._will: bytes = b""
        self._tg: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None
        self.connected_event = asyncio.Event()
        """Set while connected (after status and birth went out); for tests and the daemon."""

    @property
    def session(self) -> int:
        return self._session

    def alive(self) -> bool:
        """The connection task runs (connected or retrying); False once it died."""
        return self._main is not None and not self._main.done()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Uplink:
        await self._db.migrate(kv.SCHEMA)
        self.link.running = True
        self.link.broker = f"{self.config.host}:{self.config.port}"
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
        try:
            await cancel_and_wait(self._main)
            await self._tg.__aexit__(None, None, None)
        finally:
            self.link.running = False
            self.link.connected = False

    # ------------------------------------------------------------------ connection

    async def _connect_forever(self) -> None:
        while True:
            delay = await self._connect_once()
            log.info("uplink_retry_in", seconds=round(delay, 2))
            await self._clock.sleep(delay)

    def _make_client(self, will: bytes) -> aiomqtt.Client:
        cfg = self.config
        tls_params = None
        if cfg.uses_tls:
            tls_params = aiomqtt.TLSParameters(
                ca_certs=cfg.ca_file,
                certfile=cfg.cert_file,
                keyfile=cfg.key_file,
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
            tls_insecure=cfg.tls_insecure if cfg.uses_tls else None,
            max_inflight_messages=cfg.inflight,
            timeout=cfg.connect_timeout_s,  # CONNACK and SUBACK; publishes pass their own
            # Received messages go to the inbound lanes as paho parses them, never into
            # aiomqtt's queue: its iterator takes several loop turns per message, so under
            # a flood that queue, not the lanes, would fill and drop uncounted (#15, #16).
            queue_type=_routing_queue(self._take),
            logger=_MQTT_LOG,
        )
        # The in-flight window is ours to bound; aiomqtt would warn above 10 pending publishes.
        client.pending_calls_threshold = cfg.inflight + 10
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
            self.link.last_error = f"cannot start a session: {exc}"
            log.error("uplink_session_not_started", error=str(exc))
            return self._backoff.next()
        try:
            client = self._make_client(will)
        except OSError as exc:  # e.g. unreadable password file or certificate
            self.link.last_error = f"cannot prepare the connection: {exc}"
            log.error("uplink_config_error", error=str(exc))
            return self.config.auth_retry_s
        error: BaseException | None = None
        try:
            async with client:
                self._session, self._will, self._client = session, will, client
                self.link.session = session
                self.link.reconnects += 1
                self._backoff.reset()
                await self._announce(client, session, online)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._receive(client), name="uplink.receive")
                    tg.create_task(self._drain(client, session), name="uplink.drain")
                    tg.create_task(self._rebirths(client, session), name="uplink.rebirth")
                    tg.create_task(self._resubscribes(client), name="uplink.resubscribe")
        except* aiomqtt.MqttError as group:
            error = _first_leaf(group)
        except* Exception as group:  # a bug or a failing birth provider: log, retry later
            error = _first_leaf(group)
            log.error("uplink_session_failed", error=repr(error), exc_info=error)
        finally:
            self._client = None
            self.connected_event.clear()
            self.link.connected = False
            self.outbox.live_session = NOT_LIVE
        if error is None:  # pragma: no cover - the tasks above only end by an error
            return self._backoff.next()
        last = self.link.last_error = str(error) or type(error).__name__
        if _is_auth_failure(error):
            log.error("uplink_auth_failed", reason=last, retry_s=self.config.auth_retry_s)
            self.link.auth_failure = last
            return self.config.auth_retry_s * (0.9 + 0.2 * self._rng.random())
        log.warning("uplink_disconnected", error=last, session=session)
        return self._backoff.next()

    async def _announce(self, client: aiomqtt.Client, session: int, online: bytes) -> None:
        subs = [(self.topics.root + t, 1) for t in self._inbound.subscriptions]
        self.link.resubscribe_wanted.clear()  # what was asked before this subscribe
        if subs:
            await client.subscribe(subs)
        await client.publish(self.topics.up("status"), online, qos=1, retain=True)
        await self._publish_birth(client, session)
        self.outbox.live_session = session
        self.outbox.rewind()
        self.connected_event.set()
        self.link.connected = True
        self.link.auth_failure = None
        log.info("uplink_connected", session=session, depth=self.outbox.depth)

    async def _publish_birth(self, client: aiomqtt.Client, session: int) -> None:
        """The parts, the clearing of the retained parts an earlier, larger birth left (an
        empty retained payload deletes them), then the head: all retained, so the head
        arrives when the rest is in place."""
        body = await self._birth()
        birth_id = uuid.uuid4().hex
        head, parts = split(body, birth_id)
        for part in parts:
            seq = await self._db.run(lambda c: kv.bump(c, "uplink.seq.birth_part"))
            wire = BirthPart(
                session=session, seq=seq, msg_id=uuid.uuid4().hex, ts=self._clock.now(),
                **msgspec.structs.asdict(part),
            )  # fmt: skip
            await self._publish_retained(client, f"birth/part/{part.part}", wire)
        before = await self._db.run(lambda c: kv.get(c, BIRTH_PARTS_KEY))
        for stale in range(len(parts), int(before or 0)):
            topic = self.topics.up(f"birth/part/{stale}")
            await client.publish(topic, b"", qos=1, retain=True)
        await self._db.run(lambda c: kv.put(c, BIRTH_PARTS_KEY, str(len(parts))))
        seq = await self._db.run(lambda c: kv.bump(c, "uplink.seq.birth"))
        wire_head = Birth(
            session=session, seq=seq, msg_id=uuid.uuid4().hex, ts=self._clock.now(),
            **msgspec.structs.asdict(head),
        )  # fmt: skip
        await self._publish_retained(client, "birth", wire_head)

    async def _publish_retained(
        self, client: aiomqtt.Client, topic: str, message: Birth | BirthPart
    ) -> None:
        payload = self._encoder.encode(message)
        if len(payload) >= MESSAGE_LIMIT:  # one device bigger than a part: say so
            log.error("birth_message_too_large", topic=topic, size=len(payload))
        await client.publish(self.topics.up(topic), payload, qos=1, retain=True)

    async def _drain(self, client: aiomqtt.Client, session: int) -> None:
        window = asyncio.Semaphore(self.config.inflight)
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
                self.topics.up(row.stream), row.wire(session), qos=1,
                retain=row.stream in RETAINED_STREAMS, timeout=PUBLISH_TIMEOUT_S,
            )  # fmt: skip
        finally:
            window.release()
        self.outbox.ack(row)

    # ------------------------------------------------------------------ inbound

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Ends the session when the connection drops (messages never reach this queue:
        `_take` routed each as it arrived)."""
        async for message in client.messages:  # pragma: no cover - the queue stays empty
            self._take(message)

    def _take(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        data = (
            payload
            if isinstance(payload, bytes)
            else bytes(payload)
            if isinstance(payload, bytearray)
            else str(payload if payload is not None else "").encode()
        )
        topic = message.topic.value
        rel = self.topics.relative(topic)
        if rel is None:
            log.warning("inbound_outside_root", topic=topic)
            return
        try:
            self._inbound.offer(topic, rel, data)
        except Exception as exc:  # bad input must never take the session down
            log.error("inbound_delivery_failed", topic=topic, error=repr(exc))

    async def _resubscribes(self, client: aiomqtt.Client) -> None:
        wanted = self.link.resubscribe_wanted  # cleared by the connect's subscribe
        while True:
            await wanted.wait()
            wanted.clear()
            subs = [(self.topics.root + t, 1) for t in self._inbound.subscriptions]
            if subs:
                await client.subscribe(subs)
                log.info("uplink_resubscribed", topics=len(subs))

    async def _rebirths(self, client: aiomqtt.Client, session: int) -> None:
        wanted = self.link.rebirth_wanted
        wanted.clear()  # the connect has just published one
        while True:
            await wanted.wait()
            wanted.clear()
            await self._publish_birth(client, session)


__all__ = ["BirthProvider", "Inbound", "Uplink"]
