"""Cloud emulator: the backend and digital twin stand-in for tests and the demo.

It subscribes to `edge/v1/{site}/{gateway}/#`, validates every upstream message against the
shipped JSON Schemas (`edge/uplink/schemas/*.json`, with the small validator below, so the
check does not reuse the gateway's own decoder) and records any violation, keeps messages per
stream, publishes booking snapshots/deltas and sends (optionally signed) commands, awaiting
their `cmd_res`. QR passes: `issue_pass()` calls an injected issuer (the access package's
`issue_pass`), so this module does not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.uplink import schemas
from edge.uplink.contract import Topics
from edge.uplink.signing import BOOKINGS_DOMAIN, sign

UP_STREAMS = (
    "status", "birth", "birth_part", "state", "event", "alarm", "energy", "summary", "cmd_res",
)  # fmt: skip


# ---------------------------------------------------------------------- a small JSON Schema check


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    return False


def schema_errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$"
) -> list[str]:
    """Problems of `value` against the JSON Schema subset msgspec generates."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return schema_errors(value, root["$defs"][name], root, path)
    if "anyOf" in schema:
        if any(not schema_errors(value, alt, root, path) for alt in schema["anyOf"]):
            return []
        return [f"{path}: matches none of anyOf"]
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(value, k) for k in kinds):
            return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match {schema['pattern']}")
        if schema.get("format") == "date-time":
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                errors.append(f"{path}: not a date-time")
            else:
                if parsed.tzinfo is None:
                    errors.append(f"{path}: date-time without offset")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{path}: not above {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            errors.append(f"{path}: not below {schema['exclusiveMaximum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], root, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root, f"{path}[{i}]")
    return errors


# ---------------------------------------------------------------------- the emulator


class CloudEmulator:
    """`async with CloudEmulator(host, port, site, gateway) as cloud:`; see module doc."""

    def __init__(
        self,
        host: str,
        port: int,
        site: str,
        gateway: str,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        kid: str = "cloud",
        booking_key: Ed25519PrivateKey | None = None,
        booking_kid: str = "bookings",
        validate: bool = True,
        pass_issuer: Callable[..., Any] | None = None,
        client_id: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.topics = Topics(site, gateway)
        self.signing_key = signing_key
        self.kid = kid
        self.booking_key = booking_key
        self.booking_kid = booking_kid
        self.validate = validate
        self._pass_issuer = pass_issuer
        self._client_id = client_id or f"cloud-{uuid.uuid4().hex[:8]}"
        self._schemas = {s: schemas.load(s) for s in UP_STREAMS}
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._by_id: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.raw: list[tuple[str, bytes, bool]] = []
        self.violations: list[tuple[str, str]] = []
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self.keep_raw = False

    async def __aenter__(self) -> CloudEmulator:
        self._client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self._client_id,
            # A persistent 3.1.1 session: the broker queues what arrives while we reconnect.
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,
            max_inflight_messages=100,
        )
        await self._client.__aenter__()
        await self._client.subscribe(self.topics.everything, qos=1)
        self._task = asyncio.create_task(self._receive(), name="cloud.receive")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    # ------------------------------------------------------------------ receiving

    async def _receive(self) -> None:
        assert self._client is not None
        while True:
            try:
                async for message in self._client.messages:
                    self._on_message(
                        message.topic.value, _as_bytes(message.payload), bool(message.retain)
                    )
                return
            except aiomqtt.MqttError:
                await self._reconnect()

    async def _reconnect(self) -> None:
        assert self._client is not None
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(None, None, None)
        while True:
            await asyncio.sleep(0.2)
            try:
                await self._client.__aenter__()
                await self._client.subscribe(self.topics.everything, qos=1)
                return
            except aiomqtt.MqttError:
                continue

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        rel = self.topics.relative(topic)
        if rel is None or rel.startswith(("cmd/", "bookings")):
            return  # our own downstream traffic
        if self.keep_raw:
            self.raw.append((rel, payload, retained))
        if rel.startswith("birth/part/"):  # the parts of a birth share one schema
            if not payload:
                return  # a stale part cleared (an empty retained payload deletes it)
            rel = "birth_part"
        if rel not in self._schemas:
            self.violations.append((topic, f"unexpected upstream topic {rel!r}"))
            return
        try:
            data = json.loads(payload)
        except ValueError as exc:
            self.violations.append((topic, f"not JSON: {exc}"))
            return
        if self.validate:
            schema = self._schemas[rel]
            problems = schema_errors(data, schema, schema)
            if isinstance(data, dict) and data.get("stream") != rel:
                problems.append(f"stream {data.get('stream')!r} on topic {rel}")
            if problems:
                self.violations.append((topic, "; ".join(problems[:5])))
        if not isinstance(data, dict):
            return
        data["_retained"] = retained
        self.received[rel].append(data)
        if isinstance(data.get("msg_id"), str):
            self._by_id[rel].setdefault(data["msg_id"], data)
        if rel == "cmd_res":
            fut = self._waiters.get(str(data.get("cmd_id")))
            if fut is not None and not fut.done():
                fut.set_result(data)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until `predicate()` holds (re-checked on each received message and every 50 ms)."""
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    def unique(self, stream: str) -> dict[str, dict[str, Any]]:
        """Messages of `stream` by msg_id (duplicates collapsed; they must be identical)."""
        return self._by_id[stream]

    # ------------------------------------------------------------------ sending

    async def publish(self, subtopic: str, payload: bytes, *, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(self.topics.root + subtopic, payload, qos=1, retain=retain)

    def booking_body(
        self,
        subtopic: str,
        body: dict[str, Any],
        *,
        signed: bool | None = None,
        key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
    ) -> dict[str, Any]:
        """`body` signed for `subtopic` (`bookings` or `bookings/delta`) with the booking key
        when one is set (or `signed=True`); `key`/`kid` override it (a forger's key)."""
        key = key or self.booking_key
        if signed is None:
            signed = key is not None
        if not signed:
            return body
        if key is None:
            raise ValueError("signed=True needs a booking_key")
        topic = self.topics.root + subtopic
        return sign(topic, body, key, kid or self.booking_kid, BOOKINGS_DOMAIN)

    async def publish_snapshot(
        self,
        version: int,
        bookings: Iterable[dict[str, Any]],
        *,
        retain: bool | None = None,
        reset: bool = False,
        **signing: Any,
    ) -> None:
        """A snapshot; signed as `booking_body` says (keyword arguments `signed`, `key`,
        `kid`); `reset: true` is sent only when asked. Retained unless it is a reset (a
        reset is a one-off repair, docs/mqtt.md)."""
        if retain is None:
            retain = not reset
        body: dict[str, Any] = {"version": version, "bookings": list(bookings)}
        if reset:
            body["reset"] = True
        body = self.booking_body("bookings", body, **signing)
        await self.publish("bookings", msgspec.json.encode(body), retain=retain)

    async def publish_delta(
        self,
        version: int,
        upsert: Iterable[dict[str, Any]] = (),
        remove: Iterable[str] = (),
        **signing: Any,
    ) -> None:
        body = {"version": version, "upsert": list(upsert), "remove": list(remove)}
        body = self.booking_body("bookings/delta", body, **signing)
        await self.publish("bookings/delta", msgspec.json.encode(body))

    def command_body(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        cmd_id: str | None = None,
        expires_in: float = 60.0,
        now: datetime | None = None,
        signed: bool | None = None,
    ) -> dict[str, Any]:
        """A command object, signed when a key is set (or `signed=True`)."""
        now = now or datetime.now(UTC)
        body: dict[str, Any] = {
            "cmd_id": cmd_id or uuid.uuid4().hex,
            "expires_at": (now + timedelta(seconds=expires_in)).isoformat(),
            **(args or {}),
        }
        if signed is None:
            signed = self.signing_key is not None
        if signed:
            if self.signing_key is None:
                raise ValueError("signed=True needs a signing_key")
            body = sign(self.topics.cmd(name), body, self.signing_key, self.kid)
        return body

    async def command(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        within: float = 5.0,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Send `cmd/{name}` and return its `cmd_res`."""
        body = body or self.command_body(name, args, **kwargs)
        cmd_id = str(body["cmd_id"])
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[cmd_id] = fut
        try:
            await self.publish(f"cmd/{name}", msgspec.json.encode(body))
            async with asyncio.timeout(within):
                return await fut
        finally:
            self._waiters.pop(cmd_id, None)

    async def issue_pass(self, **kwargs: Any) -> Any:
        """Issue a QR pass through the injected issuer (edge.access.passes.issue_pass)."""
        if self._pass_issuer is None:
            raise NotImplementedError("CloudEmulator(pass_issuer=...) was not given")
        return self._pass_issuer(**kwargs)


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return str(payload).encode() if payload is not None else b""
