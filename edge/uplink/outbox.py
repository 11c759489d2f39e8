"""Durable store-and-forward outbox in SQLite.

Row ids come from AUTOINCREMENT: never reused, so the drain cursors (last id dispatched
per priority) cannot skip a message inserted after the newest row was deleted.

A message is committed before any publish is tried and deleted only after the broker's
PUBACK, so it survives a broken link, `kill -9` and power loss (synchronous=FULL). Enqueues
of one loop turn, and any arriving while a commit is running, share one transaction (group
commit), which is what makes durable enqueue fast on a synchronous=FULL database.

Drain order is by priority (alarm > cmd_res > event > energy > state), by enqueue order
within a priority, which keeps each stream in order. The bounds (count, bytes, age) are kept
by evicting the oldest `state` first, then plain events; alarms, access events, energy and
command results are never evicted. Evictions are reported as a `buffer_overflow` event.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
import structlog

from edge.clock import Clock
from edge.storage import Database, Schema
from edge.storage.db import finish
from edge.uplink.config import OutboxConfig
from edge.uplink.contract import (
    QUEUED_STREAMS,
    STREAM_OF_BODY,
    EventBody,
    QueuedBody,
)
from edge.uplink.errors import OutboxClosed

log = structlog.get_logger("edge.uplink.outbox")

SCHEMA = Schema(
    component="outbox",
    steps=[
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            prio INTEGER NOT NULL,
            stream TEXT NOT NULL,
            seq INTEGER NOT NULL,
            msg_id TEXT NOT NULL,
            created REAL NOT NULL,
            live_session INTEGER NOT NULL,
            evictable INTEGER NOT NULL,
            payload BLOB NOT NULL
        );
        CREATE INDEX outbox_drain ON outbox(prio, id);
        CREATE INDEX outbox_evict ON outbox(evictable, prio, id);
        CREATE TABLE outbox_seq (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL)
        """
    ],
)

OVERFLOW_REPORT_INTERVAL_S = 60.0
SWEEP_INTERVAL_S = 60.0
FETCH_BATCH = 256
NOT_LIVE = -1
ACK_BATCH = 500
ACK_DELAY_S = 0.05


class _Head(msgspec.Struct):
    stream: str
    seq: int
    msg_id: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Where a message landed: its stream, seq and msg_id."""

    stream: str
    seq: int
    msg_id: str


@dataclass(frozen=True, slots=True)
class Row:
    """A committed message waiting for its PUBACK."""

    id: int
    prio: int
    stream: str
    seq: int
    msg_id: str
    live_session: int
    payload: bytes

    def wire(self, session: int) -> bytes:
        """The payload stamped with the publishing session and the `historical` flag."""
        historical = b"false" if self.live_session == session else b"true"
        return b'{"session":%d,"historical":%s,' % (session, historical) + self.payload[1:]


@dataclass(frozen=True, slots=True)
class _Pending:
    prio: int
    stream: str
    seq: int
    msg_id: str
    created: float
    live_session: int
    evictable: bool
    payload: bytes


@dataclass(slots=True)
class _WriteResult:
    evicted: dict[str, int] = field(default_factory=dict)
    evicted_count: int = 0
    evicted_bytes: int = 0
    deleted_count: int = 0
    deleted_bytes: int = 0
    reason: str = ""


def is_evictable(stream: str, body: QueuedBody) -> bool:
    """Only `state` and plain events may be dropped; never access events or overflow reports."""
    if stream == "state":
        return True
    if stream == "event" and isinstance(body, EventBody):
        return not body.kind.startswith("access") and body.kind != "buffer_overflow"
    return False


class Outbox:
    """The durable queue. `async with Outbox(...)` loads counters and runs the committer."""

    def __init__(self, db: Database, clock: Clock, config: OutboxConfig | None = None) -> None:
        self._db = db
        self._clock = clock
        self._cfg = config or OutboxConfig()
        self._encoder = msgspec.json.Encoder()
        self._seq: dict[str, int] = {}
        self._count = 0
        self._bytes = 0
        self._batch: list[_Pending] = []
        self._acks: list[Row] = []
        self._acked_ids: set[int] = set()
        self._batch_done: asyncio.Future[None] | None = None
        self._committing: asyncio.Future[None] | None = None
        self._wake: asyncio.Event | None = None
        self._new: asyncio.Event | None = None
        self._empty: asyncio.Event | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._own_tasks: list[asyncio.Task[None]] = []
        self._ack_timer: asyncio.TimerHandle | None = None
        self._running = False
        self.live_session = NOT_LIVE
        """The session number while connected, NOT_LIVE otherwise (set by the session)."""
        # Reader state: last dispatched id per priority, prefetched rows, urgent arrival.
        self._cursor: dict[int, int] = {}
        self._buf: deque[Row] = deque()
        self._urgent: int | None = None
        # Overflow reporting.
        self._overflow: dict[str, int] = {}
        self._overflow_reason = ""
        self._last_overflow_report: float | None = None
        self._last_sweep = clock.monotonic()
        self._on_overflow: list[Callable[[dict[str, int]], None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Outbox:
        await self._db.migrate(SCHEMA)

        def load(conn: sqlite3.Connection) -> tuple[dict[str, int], int, int]:
            seqs = {s: int(n) for s, n in conn.execute("SELECT stream, seq FROM outbox_seq")}
            count, size = conn.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox"
            ).fetchone()
            return seqs, int(count), int(size)

        self._seq, self._count, self._bytes = await self._db.run(load)
        self._wake = asyncio.Event()
        self._new = asyncio.Event()
        self._new.set()
        self._empty = asyncio.Event()
        if self._count == 0:
            self._empty.set()
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._own_tasks = [
            self._tasks.create_task(self._committer(), name="outbox.committer"),
            self._tasks.create_task(self._sweeper(), name="outbox.sweeper"),
        ]
        self._running = True
        log.info("outbox_opened", depth=self._count, bytes=self._bytes)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._running = False
        assert self._tasks is not None
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        # Commit what was accepted, then stop the background tasks.
        try:
            await self.flush()
        finally:
            for task in self._own_tasks:
                task.cancel()
            await self._tasks.__aexit__(None, None, None)

    # ------------------------------------------------------------------ producers

    def put_nowait(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        """Queue `body`; committed in the next group commit (within one loop turn or so)."""
        if not self._running:
            raise OutboxClosed("outbox is not running: enqueue after `async with Outbox`")
        stream = STREAM_OF_BODY[type(body)]
        seq = self._seq.get(stream, 0) + 1
        self._seq[stream] = seq
        msg_id = uuid.uuid4().hex
        now = self._clock.now()
        head = self._encoder.encode(_Head(stream, seq, msg_id, ts or now))
        encoded = self._encoder.encode(body)
        payload = head if encoded == b"{}" else head[:-1] + b"," + encoded[1:]
        self._batch.append(
            _Pending(
                prio=int(QUEUED_STREAMS[stream]),
                stream=stream,
                seq=seq,
                msg_id=msg_id,
                created=now.timestamp(),
                live_session=self.live_session,
                evictable=is_evictable(stream, body),
                payload=payload,
            )
        )
        self._kick()
        return Enqueued(stream, seq, msg_id)

    async def put(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        """Queue `body` and return once it is committed to disk."""
        done = self._batch_future()
        enqueued = self.put_nowait(body, ts)
        await asyncio.shield(done)
        return enqueued

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._batch or self._acks:
            done = self._batch_future()
            self._kick()
            await asyncio.shield(done)
        elif self._committing is not None:
            await asyncio.shield(self._committing)

    def _batch_future(self) -> asyncio.Future[None]:
        if self._batch_done is None:
            self._batch_done = asyncio.get_running_loop().create_future()
        return self._batch_done

    def _kick(self) -> None:
        assert self._wake is not None
        self._wake.set()

    # ------------------------------------------------------------------ consumer (the session)

    def rewind(self) -> None:
        """Start again from the oldest unacknowledged message (after a reconnect)."""
        self._cursor.clear()
        self._buf.clear()
        self._urgent = None
        assert self._new is not None
        self._new.set()

    async def next(self) -> Row:
        """The next message to publish: highest priority first, enqueue order within."""
        assert self._new is not None
        while True:
            if self._urgent is not None:
                if self._buf and self._urgent < self._buf[0].prio:
                    self._buf.clear()  # refetch: cursors only moved past dispatched rows
                self._urgent = None
            if self._buf:
                row = self._buf.popleft()
                self._cursor[row.prio] = row.id
                return row
            self._new.clear()
            cursor = dict(self._cursor)
            skip = set(self._acked_ids)
            rows = await self._db.run(functools.partial(_fetch, cursor=cursor, skip=skip))
            if rows:
                self._buf.extend(rows)
                continue
            await self._new.wait()

    async def wait_empty(self) -> None:
        """Return once every message has been acknowledged and deleted."""
        assert self._empty is not None
        while self.depth:
            await self._empty.wait()
            if self._batch:
                await self.flush()

    def ack(self, row: Row) -> None:
        """The broker acknowledged `row`: delete it in the next group commit."""
        if row.id in self._acked_ids:
            return
        self._acked_ids.add(row.id)
        self._acks.append(row)
        if not self._running:
            return
        # Deletes are cheap to lose (a resend with the same msg_id), so batch them harder
        # than inserts: a transaction per ACK_BATCH acks or per ACK_DELAY_S, whichever first.
        if len(self._acks) >= ACK_BATCH:
            self._kick()
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY_S, self._ack_due)

    def _ack_due(self) -> None:
        self._ack_timer = None
        if self._acks:
            self._kick()

    # ------------------------------------------------------------------ state

    @property
    def depth(self) -> int:
        """Messages committed or queued and not yet acknowledged."""
        return self._count + len(self._batch)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def unreported_evictions(self) -> dict[str, int]:
        """Evictions not yet reported in a `buffer_overflow` event (at most one per minute)."""
        return dict(self._overflow)

    async def oldest_age_s(self) -> float | None:
        """Age in seconds of the oldest waiting message, None when empty."""
        row = await self._db.run(lambda c: c.execute("SELECT min(created) FROM outbox").fetchone())
        if row is None or row[0] is None:
            return None
        return max(0.0, self._clock.now().timestamp() - float(row[0]))

    async def depth_by_stream(self) -> dict[str, int]:
        rows = await self._db.run(
            lambda c: c.execute("SELECT stream, count(*) FROM outbox GROUP BY stream").fetchall()
        )
        return {str(s): int(n) for s, n in rows}

    def on_overflow(self, callback: Callable[[dict[str, int]], None]) -> None:
        """Call `callback(evicted_by_stream)` after each eviction."""
        self._on_overflow.append(callback)

    # ------------------------------------------------------------------ committer

    async def _committer(self) -> None:
        assert self._wake is not None and self._new is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._commit_once()

    async def _commit_once(self) -> None:
        assert self._new is not None
        batch, self._batch = self._batch, []
        acks, self._acks = self._acks, []
        done, self._batch_done = self._batch_done, None
        self._committing = done
        now = self._clock.now().timestamp()
        sweep = self._clock.monotonic() - self._last_sweep >= SWEEP_INTERVAL_S
        if sweep:
            self._last_sweep = self._clock.monotonic()
        limits = (self._cfg.max_messages, self._cfg.max_bytes, now - self._cfg.max_age_s)
        projected = (self._count + len(batch), self._bytes + sum(len(p.payload) for p in batch))
        work = asyncio.ensure_future(
            self._db.transaction(lambda conn: _write(conn, batch, acks, limits, projected, sweep))
        )
        try:
            # Accepted messages are written even if we are stopped meanwhile: a cancelled
            # await would drop a transaction still queued on the database thread.
            result, stopped = await finish(work)
        except BaseException as exc:
            log.error("outbox_commit_failed", error=repr(exc), lost=len(batch))
            if done is not None and not done.done():
                done.set_exception(exc if isinstance(exc, Exception) else OutboxClosed(str(exc)))
                done.exception()  # mark retrieved: put_nowait callers never await it
            raise
        for row in acks:
            self._acked_ids.discard(row.id)
        self._count += len(batch) - result.deleted_count - result.evicted_count
        self._bytes += sum(len(p.payload) for p in batch) - result.deleted_bytes
        self._bytes -= result.evicted_bytes
        if done is not None and not done.done():
            done.set_result(None)
        assert self._empty is not None
        if self._count == 0 and not self._batch:
            self._empty.set()
        else:
            self._empty.clear()
        if batch:
            top = min(p.prio for p in batch)
            self._urgent = top if self._urgent is None else min(self._urgent, top)
            self._new.set()
        if result.evicted:
            self._note_overflow(result)
        self._maybe_report_overflow()
        if stopped:
            raise asyncio.CancelledError

    def _note_overflow(self, result: _WriteResult) -> None:
        self._buf.clear()  # prefetched rows may be among the evicted: refetch from the table
        for stream, n in result.evicted.items():
            self._overflow[stream] = self._overflow.get(stream, 0) + n
        self._overflow_reason = result.reason
        log.warning(
            "outbox_evicted", evicted=result.evicted, reason=result.reason, depth=self._count
        )
        for callback in self._on_overflow:
            callback(dict(result.evicted))

    def _maybe_report_overflow(self) -> None:
        if not self._overflow or not self._running:
            return
        mono = self._clock.monotonic()
        last = self._last_overflow_report
        if last is not None and mono - last < OVERFLOW_REPORT_INTERVAL_S:
            return
        self._last_overflow_report = mono
        counts, self._overflow = self._overflow, {}
        self.put_nowait(
            EventBody(
                kind="buffer_overflow",
                message="outbox bounds reached: oldest evictable messages dropped",
                data={
                    "evicted": counts,
                    "reason": self._overflow_reason,
                    "depth": self._count,
                    "max_messages": self._cfg.max_messages,
                    "max_bytes": self._cfg.max_bytes,
                    "max_age_s": self._cfg.max_age_s,
                },
            )
        )

    async def _sweeper(self) -> None:
        """Wake the committer now and then for the age sweep and pending overflow reports."""
        while True:
            await self._clock.sleep(SWEEP_INTERVAL_S)
            self._kick()


# ---------------------------------------------------------------------- database side


def _fetch(
    conn: sqlite3.Connection, *, cursor: dict[int, int], skip: set[int], limit: int = FETCH_BATCH
) -> list[Row]:
    rows: list[Row] = []
    for prio in sorted(int(p) for p in QUEUED_STREAMS.values()):
        if len(rows) >= limit:
            break
        for r in conn.execute(
            "SELECT id, prio, stream, seq, msg_id, live_session, payload FROM outbox "
            "WHERE prio = ? AND id > ? ORDER BY id LIMIT ?",
            (prio, cursor.get(prio, -1), limit - len(rows)),
        ):
            if r[0] not in skip:
                rows.append(Row(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6])))
    return rows


def _write(
    conn: sqlite3.Connection,
    batch: list[_Pending],
    acks: list[Row],
    limits: tuple[int, int, float],
    projected: tuple[int, int],
    sweep: bool,
) -> _WriteResult:
    result = _WriteResult()
    if acks:
        ids = [r.id for r in acks]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for (size,) in conn.execute(
                f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING length(payload)", chunk
            ):
                result.deleted_count += 1
                result.deleted_bytes += int(size)
    if batch:
        conn.executemany(
            "INSERT INTO outbox(prio, stream, seq, msg_id, created, live_session, evictable, "
            "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.prio,
                    p.stream,
                    p.seq,
                    p.msg_id,
                    p.created,
                    p.live_session,
                    int(p.evictable),
                    p.payload,
                )
                for p in batch
            ],
        )
        last: dict[str, int] = {}
        for p in batch:
            last[p.stream] = p.seq
        conn.executemany(
            "INSERT INTO outbox_seq(stream, seq) VALUES (?, ?) ON CONFLICT(stream) "
            "DO UPDATE SET seq = max(seq, excluded.seq)",
            list(last.items()),
        )
    max_messages, max_bytes, oldest_allowed = limits
    count = projected[0] - result.deleted_count
    size = projected[1] - result.deleted_bytes
    if sweep:
        _evict(
            conn,
            result,
            "max_age",
            "SELECT id, stream, length(payload) FROM outbox WHERE evictable = 1 AND created < ? "
            "ORDER BY prio DESC, id",
            (oldest_allowed,),
            lambda: True,
        )
        count -= result.evicted_count
        size -= result.evicted_bytes
    if count > max_messages or size > max_bytes:
        base_count, base_bytes = result.evicted_count, result.evicted_bytes

        def over() -> bool:
            return (
                count - (result.evicted_count - base_count) > max_messages
                or size - (result.evicted_bytes - base_bytes) > max_bytes
            )

        reason = "max_messages" if count > max_messages else "max_bytes"
        _evict(
            conn,
            result,
            reason,
            "SELECT id, stream, length(payload) FROM outbox WHERE evictable = 1 "
            "ORDER BY prio DESC, id",
            (),
            over,
        )
    return result


def _evict(
    conn: sqlite3.Connection,
    result: _WriteResult,
    reason: str,
    query: str,
    params: tuple[object, ...],
    still_over: Callable[[], bool],
) -> None:
    victims: list[int] = []
    for row_id, stream, size in conn.execute(query, params):
        if not still_over():
            break
        victims.append(int(row_id))
        result.evicted[str(stream)] = result.evicted.get(str(stream), 0) + 1
        result.evicted_count += 1
        result.evicted_bytes += int(size)
    if victims:
        result.reason = reason
        for i in range(0, len(victims), 500):
            chunk = victims[i : i + 500]
            conn.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk)
