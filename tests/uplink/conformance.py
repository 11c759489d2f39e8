"""A cloud consumer written from docs/mqtt.md alone: it imports nothing of the gateway.

It subscribes to the gateway's whole tree with a persistent session (QoS 1), reconnects
when the broker goes away, and checks what the doc promises:

- every upstream message has the envelope ("Envelope"), `stream` equal to its topic;
- a message seen twice (a resend) has the same `msg_id`, `seq` and `ts`: dedupe on msg_id;
- `seq` of each queued stream is contiguous (no `buffer_overflow` here to excuse a gap);
- alarms: an id's first transition is a `raise`, and a cleared id is raised again before
  anything else happens to it; an id not cleared is counted in the latest `summary`;
- energy: a `booking_total`'s meter shares add up to its kWh;
- state: every point sent is a point of the latest birth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

import aiomqtt

QUEUED = ("state", "event", "alarm", "energy", "summary", "cmd_res")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
SEVERITIES = ("critical", "major", "minor", "warning")


class Conformance:
    def __init__(self, host: str, port: int, site: str, gateway: str) -> None:
        self.root = f"edge/v1/{site}/{gateway}/"
        self._host, self._port = host, port
        self.unique: dict[str, dict[str, Any]] = {}
        self.by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.problems: list[str] = []
        self.births: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conformance:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        client = aiomqtt.Client(
            self._host, self._port, identifier="conformance-consumer", clean_session=False,
            protocol=aiomqtt.ProtocolVersion.V311,
        )  # fmt: skip
        while True:
            try:
                async with client:
                    await client.subscribe(self.root + "#", qos=1)
                    async for message in client.messages:
                        payload = message.payload
                        if isinstance(payload, bytes | bytearray) and payload:
                            self._take(message.topic.value, bytes(payload))
            except aiomqtt.MqttError:
                self.reconnects += 1
                await asyncio.sleep(0.2)

    # ---- per message ------------------------------------------------------------------
    def _bad(self, text: str) -> None:
        self.problems.append(text)

    def _take(self, topic: str, payload: bytes) -> None:
        rel = topic.removeprefix(self.root)
        if rel.startswith(("cmd/", "bookings")):
            return  # downstream
        msg = json.loads(payload)
        stream = "birth_part" if rel.startswith("birth/part/") else rel
        if msg.get("stream") != stream:
            self._bad(f"{topic}: stream {msg.get('stream')!r}")
            return
        for key, kind in (("session", int), ("seq", int), ("msg_id", str), ("ts", str),
                          ("historical", bool)):  # fmt: skip
            if not isinstance(msg.get(key), kind):
                self._bad(f"{topic}: envelope field {key} = {msg.get(key)!r}")
                return
        if not HEX32.match(msg["msg_id"]):
            self._bad(f"{topic}: msg_id {msg['msg_id']!r}")
        datetime.fromisoformat(msg["ts"])
        seen = self.unique.get(msg["msg_id"])
        if seen is not None:
            if (seen["seq"], seen["ts"], seen["stream"]) != (msg["seq"], msg["ts"], stream):
                self._bad(f"resend of {msg['msg_id']} differs: {seen} / {msg}")
            return
        self.unique[msg["msg_id"]] = msg
        self.by_stream[stream].append(msg)
        if stream == "birth":
            self.births[msg["birth_id"]] = msg
        elif stream == "birth_part":
            self.parts[msg["birth_id"]][msg["part"]] = msg

    # ---- over the whole capture -----------------------------------------------------
    def birth_points(self) -> set[str]:
        """Points of every complete birth seen (head and all its parts)."""
        refs: set[str] = set()
        for bid, head in self.births.items():
            parts = self.parts.get(bid, {})
            if all(i in parts for i in range(head["parts"])):
                for part in parts.values():
                    for dev in part["devices"]:
                        refs |= {f"{dev['id']}.{p['name']}" for p in dev["points"]}
        return refs

    def open_alarms(self) -> dict[str, str]:
        """alarm_id -> severity, for the ids whose last transition is not `clear`."""
        last: dict[str, dict[str, Any]] = {}
        for a in sorted(self.by_stream["alarm"], key=lambda m: m["seq"]):
            last[a["alarm_id"]] = a
        return {i: a["severity"] for i, a in last.items() if a["action"] != "clear"}

    def verdict(self) -> list[str]:
        out = list(self.problems)
        for stream in QUEUED:
            seqs = sorted(m["seq"] for m in self.by_stream[stream])
            if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
                out.append(f"{stream}: seq gaps {missing[:10]}")
        state_of: dict[str, str] = {}
        for a in sorted(self.by_stream["alarm"], key=lambda m: m["seq"]):
            before = state_of.get(a["alarm_id"])
            if (before is None or before == "clear") and a["action"] != "raise":
                out.append(f"alarm {a['alarm_id']}: {a['action']} before any raise")
            state_of[a["alarm_id"]] = a["action"]
        summaries = sorted(self.by_stream["summary"], key=lambda m: m["seq"])
        if summaries:
            counted = summaries[-1]["venue"]["alarms_open"]
            mine = dict.fromkeys(SEVERITIES, 0)
            for severity in self.open_alarms().values():
                mine[severity] += 1
            if counted != mine:
                out.append(f"open alarms {mine} but the latest summary says {counted}")
        for e in self.by_stream["energy"]:
            if e["kind"] == "booking_total" and abs(sum(e["meters"].values()) - e["kwh"]) > 0.002:
                out.append(f"booking {e['booking_id']}: shares {e['meters']} != {e['kwh']} kWh")
        known = self.birth_points()
        for s in self.by_stream["state"]:
            for p in s["points"]:
                if p["point"] not in known:
                    out.append(f"state point {p['point']} is in no birth")
        return out
