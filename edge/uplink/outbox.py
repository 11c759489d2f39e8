"""Durable store-and-forward outbox in SQLite.

Row ids come from AUTOINCREMENT: never reused, so the drain cursors (last id dispatched
per priority) cannot skip a message inserted after the newest row was deleted.

A message is committed before any publish is tried and deleted only after the broker's
PUBACK, so it survives a broken link, `kill -9` and power loss (synchronous=FULL). Enqueues
of one loop turn, and any arriving while a commit is running, share one transaction (group
commit), which is what makes durable enqueue fast on a synchronous=FULL database.

Rows just committed are handed to the drain from memory when the drain has read everything
committed before them (its buffer is the tail of the table), so a message costs one
transaction and no read-back. Deletes of acknowledged rows ride along with the next insert;
on their own they wait for ACK_BATCH of them or ACK_DELAY_S (a drain of a backlog deletes in
batches, not once per commit round): a delete lost in a crash only means the message goes
again with its msg_id, which the contract tells the cloud to deduplicate.

Drain order is by priority (alarm > cmd_res > event > energy > state), by enqueue order
within a priority, which keeps each stream in order. The bounds (count, bytes, age) are kept
by evicting the oldest `state` first, then plain events; alarms, access events, energy and
command results are never evicted. Evictions are reported as a `buffer_overflow` event.

A failed commit (a full or failing card) is a state, not a crash. What was accepted stays in a
bounded memory spill (`edge.storage.spill`), in order, with exact counts; the committer retries
with backoff and writes it once space returns. Meanwhile the drain sends spilled messages
straight from memory, so alarms still reach the cloud; one acknowledged never needs the disk.
What the spill has to refuse or drop is counted and reported in a `buffer_overflow` event once
commits work again. The committer never dies, `flush()` and stopping never wait unboundedly,
and `beat` / `last_progress` let a watchdog tell a hung writer from an idle one.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from edge.storage import Database, FileRecreated, Schema, StorageError, StorageEvent
from edge.storage.db import finish
from edge.storage.spill import Held, HeldState, Spill, SpillLimits
from edge.uplink.backoff import Backoff
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
FETCH_BATCH = 1024
NOT_LIVE = -1
ACK_BATCH = 500
ACK_DELAY_S = 1.0
"""Longest wait before acknowledged rows are deleted in a transaction of their own."""
COMMIT_CHUNK = 5000
"""Most messages per transaction: a long spill is written back in pieces."""
RETRY_INITIAL_S = 0.25
RETRY_CAP_S = 5.0
"""Longest wait between commit attempts while the disk refuses writes (injected clock)."""
HEARTBEAT_S = 1.0
"""The committer beats at least this often (real time) while idle or backing off."""
FLUSH_TIMEOUT_S = 10.0
STOP_FLUSH_S = 3.0
STOP_TASKS_S = 2.0
READ_RETRY_S = 1.0


class _Head(msgspec.Struct):
    stream: str
    seq: int
    msg_id: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Where a message landed: its stream, seq and msg_id.

    `accepted` is False when the memory spill was full while the disk refused writes: the
    message was dropped (counted, and reported in a `buffer_overflow` event).
    """

    stream: str
    seq: int
    msg_id: str
    accepted: bool = True


@dataclass(frozen=True, slots=True)
class Row:
    """A message waiting for its PUBACK: committed (id > 0) or sent from the spill (id < 0)."""

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
    last_id: int = 0
    """The id of the last row inserted (the batch's ids end there, contiguous)."""


@dataclass(frozen=True, slots=True)
class SpillStats:
    """The memory spill, for `edgectl status`, alarms and tests. Counts are exact."""

    messages: int
    """Accepted, not on disk, not delivered: held in memory now."""
    bytes: int
    failing: bool
    """The latest commit failed (the disk refuses writes)."""
    last_error: str | None
    dropped: dict[str, int]
    """Since start, by stream: refused at enqueue or evicted from the spill (never delivered)."""
    dropped_bytes: int
    sent_from_memory: int
    """Delivered to the broker straight from the spill, never written to disk."""
    commit_failures: int


class NotCommitted(StorageError):
    """`put()`/`flush()`: the disk refused the commit. Accepted messages are still held in
    memory and are committed (and sent) when it recovers: do not enqueue them again."""


class SpillFull(StorageError):
    """`put()`: the disk refuses writes and the memory spill is full; the message was dropped."""


def is_evictable(stream: str, body: QueuedBody) -> bool:
    """Only `state`, `summary` and plain events may be dropped; never access events or
    overflow reports."""
    if stream in ("state", "summary"):
        return True
    if stream == "event" and isinstance(body, EventBody):
        return not body.kind.startswith("access") and body.kind != "buffer_overflow"
    return False


class Outbox:
    """The durable queue. `async with Outbox(...)` loads counters and runs the committer.

    `beat` (e.g. `lambda: liveness.beat("outbox")`) is called every time round the
    committer's loop and at least every HEARTBEAT_S while it waits, never while a commit
    hangs on the disk: register it with an allowance of a few HEARTBEAT_S.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: OutboxConfig | None = None,
        *,
        spill: SpillLimits | None = None,
        beat: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cfg = config or OutboxConfig()
        self._encoder = msgspec.json.Encoder()
        self._seq: dict[str, int] = {}
        self._count = 0
        self._bytes = 0
        self._spill: Spill[_Pending] = Spill(spill)
        self._sending: dict[int, Held[_Pending]] = {}
        self._acks: list[Row] = []
        self._acked_ids: set[int] = set()
        self._acks_asked = 0
        self._acks_done = 0
        self._emptying = 0
        """Callers in `wait_empty`: the last acks are committed without ACK_DELAY_S."""
        self._wake: asyncio.Event | None = None
        self._retry_now: asyncio.Event | None = None
        self._new: asyncio.Event | None = None
        self._empty: asyncio.Event | None = None
        self._round_done: asyncio.Event | None = None
        self._committer_task: asyncio.Task[None] | None = None
        self._sweeper_task: asyncio.Task[None] | None = None
        self._ack_timer: asyncio.TimerHandle | None = None
        self._running = False
        self._beat = beat
        self.last_progress = clock.monotonic()
        """Monotonic time (injected clock) the committer last finished a round or was idle."""
        self.live_session = NOT_LIVE
        """The session number while connected, NOT_LIVE otherwise (set by the session)."""
        # Commit health.
        self._failing = False
        self._failures = 0
        self._last_error: str | None = None
        self._retry = Backoff(RETRY_INITIAL_S, RETRY_CAP_S)
        # Reader state: last dispatched id per priority, prefetched rows, urgent arrival.
        self._cursor: dict[int, int] = {}
        self._buf: deque[Row] = deque()
        self._urgent: int | None = None
        self._tail_known = False
        """`_buf` holds every committed row the drain has not dispatched: new commits go
        straight into it instead of being read back."""
        self._generation = 0
        """Bumped by every commit that adds rows, and by evictions: a read that overlapped one
        cannot know whether it saw the end of the table."""
        self._known_id = 0
        """With `_tail_known`: the highest row id the drain has read or been handed. A commit's
        result can reach the loop after a read that ran later on the database thread."""
        # Overflow reporting: table evictions and spill drops, until reported.
        self._overflow: dict[str, int] = {}
        self._overflow_reason = ""
        self._spill_dropped: dict[str, int] = {}
        self._spill_dropped_bytes = 0
        self._last_overflow_report: float | None = None
        self._last_sweep = clock.monotonic()
        self._on_overflow: list[Callable[[dict[str, int]], None]] = []
        # Totals since start (exact accounting).
        self._dropped_total: dict[str, int] = {}
        self._dropped_total_bytes = 0
        self._sent_from_memory = 0
        self._unhook: list[Callable[[], None]] = []
        self._reload: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Outbox:
        await self._db.migrate(SCHEMA)
        await self._load()
        self._wake = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._new = asyncio.Event()
        self._new.set()
        self._empty = asyncio.Event()
        self._round_done = asyncio.Event()
        self._update_empty()
        self._unhook = [
            self._db.subscribe(self._on_storage_event),
            self._db.add_restorer(self._restore),
        ]
        self._start_committer()
        self._sweeper_task = asyncio.create_task(self._sweeper(), name="outbox.sweeper")
        self._running = True
        log.info("outbox_opened", depth=self._count, bytes=self._bytes)
        return self

    async def _load(self) -> None:
        def load(conn: sqlite3.Connection) -> tuple[dict[str, int], int, int]:
            seqs = {s: int(n) for s, n in conn.execute("SELECT stream, seq FROM outbox_seq")}
            count, size = conn.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox"
            ).fetchone()
            return seqs, int(count), int(size)

        seqs, self._count, self._bytes = await self._db.run(load)
        for stream, seq in seqs.items():  # never go back: a recreated file may know less
            self._seq[stream] = max(seq, self._seq.get(stream, 0))

    async def __aexit__(self, *exc: object) -> None:
        self._running = False
        if self._ack_timer is not None:
            self._ack_timer.cancel()
        # Commit what was accepted (a bounded wait: the disk may be full or hung).
        try:
            await self.flush(timeout_s=STOP_FLUSH_S)
        except (StorageError, OutboxClosed, TimeoutError) as err:
            log.error(
                "outbox_stopped_with_unsaved",
                messages=self._spill.messages,
                bytes=self._spill.bytes,
                by_stream=self._spill_by_stream(),
                error=str(err) or type(err).__name__,
            )
        finally:
            for unhook in self._unhook:
                unhook()
            tasks = [t for t in (self._committer_task, self._sweeper_task) if t is not None]
            for task in tasks:
                task.cancel()
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=STOP_TASKS_S)
                if pending:
                    log.error("outbox_task_hung_at_stop", tasks=[t.get_name() for t in pending])

    def _start_committer(self) -> None:
        task = asyncio.create_task(self._committer(), name="outbox.committer")
        task.add_done_callback(self._committer_ended)
        self._committer_task = task

    def _committer_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or not self._running:
            return
        # Only a bug gets here (failed commits are handled inside): log it and carry on.
        log.error("outbox_committer_died", error=repr(task.exception()))
        self._start_committer()

    # ------------------------------------------------------------------ producers

    def put_nowait(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        """Queue `body`; committed in the next group commit (within one loop turn or so)."""
        return self._put(body, ts)[0]

    def _put(self, body: QueuedBody, ts: datetime | None) -> tuple[Enqueued, Held[_Pending] | None]:
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
        pending = _Pending(
            prio=int(QUEUED_STREAMS[stream]),
            stream=stream,
            seq=seq,
            msg_id=msg_id,
            created=now.timestamp(),
            live_session=self.live_session,
            evictable=is_evictable(stream, body),
            payload=payload,
        )
        added = self._spill.add(
            pending.prio, pending.evictable, len(payload), pending, bounded=self._failing
        )
        for victim in added.evicted:
            self._count_drop(victim.item)
        if added.held is None:
            self._count_drop(pending)
        if added.evicted or added.held is None:
            log.warning(
                "outbox_spill_full",
                refused=added.held is None,
                evicted=len(added.evicted),
                spill=self._spill.messages,
                stream=stream,
            )
        if added.held is not None:
            assert self._empty is not None
            self._empty.clear()
        if self._failing:
            assert self._new is not None
            self._new.set()  # the drain may send it from memory
        self._kick()
        return Enqueued(stream, seq, msg_id, added.held is not None), added.held

    def _count_drop(self, p: _Pending) -> None:
        self._spill_dropped[p.stream] = self._spill_dropped.get(p.stream, 0) + 1
        self._spill_dropped_bytes += len(p.payload)
        self._dropped_total[p.stream] = self._dropped_total.get(p.stream, 0) + 1
        self._dropped_total_bytes += len(p.payload)

    async def put(self, body: QueuedBody, ts: datetime | None = None) -> Enqueued:
        """Queue `body` and return once it is committed to disk (or, while the disk refuses
        writes, delivered to the broker straight from memory).

        Raises `NotCommitted` when the disk refused the commit (the message is still held and
        will go out), `SpillFull` when it had to be dropped, TimeoutError when the committer
        made no progress within FLUSH_TIMEOUT_S.
        """
        enqueued, held = self._put(body, ts)
        if held is None:
            raise SpillFull(f"{enqueued.stream} seq {enqueued.seq} dropped: memory spill full")
        await self._wait_saved(held.index, self._acks_done, FLUSH_TIMEOUT_S, hurry=False)
        if held.state is HeldState.DROPPED:
            raise SpillFull(f"{enqueued.stream} seq {enqueued.seq} dropped: memory spill full")
        return enqueued

    async def flush(self, timeout_s: float | None = FLUSH_TIMEOUT_S) -> None:
        """Wait until everything queued so far (messages and acks) is committed.

        Raises `NotCommitted` if a commit attempt failed meanwhile (what it held stays in
        the spill), `OutboxClosed` if the committer is gone, TimeoutError after `timeout_s`.
        """
        await self._wait_saved(self._spill.last_index, self._acks_asked, timeout_s, hurry=True)

    async def _wait_saved(
        self, index: int, acks: int, timeout_s: float | None, *, hurry: bool
    ) -> None:
        """Wait until message `index` and the first `acks` acks are settled (committed,
        delivered from memory, or dropped); `hurry` cuts a commit backoff short."""

        def saved() -> bool:
            oldest = self._spill.oldest_unsaved()
            return (oldest is None or oldest > index) and self._acks_done >= acks

        if saved():
            return
        failures = self._failures
        self._kick()
        if hurry:
            assert self._retry_now is not None
            self._retry_now.set()
        async with asyncio.timeout(timeout_s):
            while not saved():
                task = self._committer_task
                if task is None or task.done():
                    raise OutboxClosed("the outbox committer is not running")
                if self._failures != failures:
                    raise NotCommitted(f"commit failed: {self._last_error}")
                assert self._round_done is not None
                await self._round_done.wait()

    def _kick(self) -> None:
        assert self._wake is not None
        self._wake.set()

    # ------------------------------------------------------------------ consumer (the session)

    def rewind(self) -> None:
        """Start again from the oldest unacknowledged message (after a reconnect)."""
        self._cursor.clear()
        self._buf.clear()
        self._urgent = None
        self._tail_known = False
        self._spill.unsend_all()
        self._sending.clear()
        assert self._new is not None
        self._new.set()

    async def next(self) -> Row:
        """The next message to publish: highest priority first, enqueue order within.

        While commits fail, spilled messages are handed out too (negative `id`), after the
        committed ones of the same priority, so each stream stays in order.
        """
        assert self._new is not None
        while True:
            if self._urgent is not None:
                if self._buf and self._urgent < self._buf[0].prio:
                    self._buf.clear()  # refetch: cursors only moved past dispatched rows
                self._urgent = None
            spilled = self._spill.best_sendable() if self._failing else None
            if self._buf:
                if spilled is not None and spilled.prio < self._buf[0].prio:
                    return self._send_from_spill(spilled)
                row = self._buf.popleft()
                self._cursor[row.prio] = row.id
                return row
            self._new.clear()
            rows: list[Row] = []
            read_failed = False
            if not self._tail_known:
                cursor = dict(self._cursor)
                skip = set(self._acked_ids)
                generation = self._generation
                try:
                    rows, complete, high = await self._db.run(
                        functools.partial(_fetch, cursor=cursor, skip=skip)
                    )
                except StorageError as exc:  # unreadable: serve the spill, retry soon
                    log.warning("outbox_read_failed", error=str(exc))
                    read_failed = True
                else:
                    self._tail_known = complete and generation == self._generation
                    self._known_id = high
            if rows:
                self._buf.extend(rows)
                continue
            spilled = self._spill.best_sendable() if self._failing else None
            if spilled is not None:
                return self._send_from_spill(spilled)
            if read_failed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new.wait(), READ_RETRY_S)
            else:
                await self._new.wait()

    def _send_from_spill(self, held: Held[_Pending]) -> Row:
        self._spill.sending(held)
        self._sending[held.index] = held
        p = held.item
        return Row(-held.index, p.prio, p.stream, p.seq, p.msg_id, p.live_session, p.payload)

    async def wait_empty(self) -> None:
        """Return once every message has been acknowledged and deleted (deletes are not held
        back for ACK_DELAY_S meanwhile)."""
        assert self._empty is not None
        self._emptying += 1
        try:
            if self._acks:
                self._kick()
            while self.depth:
                await self._empty.wait()
                if self._spill.messages:
                    await self.flush()
        finally:
            self._emptying -= 1

    def ack(self, row: Row) -> None:
        """The broker acknowledged `row`: delete it in the next group commit."""
        if row.id < 0:
            held = self._sending.pop(-row.id, None)
            if held is not None and self._spill.delivered(held):
                self._sent_from_memory += 1
                self._update_empty()
            return
        if row.id in self._acked_ids:
            return
        self._acked_ids.add(row.id)
        self._acks.append(row)
        self._acks_asked += 1
        self._schedule_acks()

    def _schedule_acks(self) -> None:
        """Deletes are cheap to lose (a resend with the same msg_id), so they are batched
        harder than inserts: a transaction per ACK_BATCH acks or per ACK_DELAY_S, whichever
        first; for `wait_empty`, at once when nothing committed is left unacknowledged.
        Stopped, the final flush commits them."""
        if not self._running:
            return
        if len(self._acks) >= ACK_BATCH or (self._emptying and len(self._acked_ids) >= self._count):
            self._kick()
        elif self._acks and self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY_S, self._ack_due)

    def _ack_due(self) -> None:
        self._ack_timer = None
        if self._acks:
            self._kick()

    # ------------------------------------------------------------------ state

    @property
    def depth(self) -> int:
        """Messages committed or held in memory and not yet acknowledged."""
        return self._count + self._spill.messages

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def spill(self) -> SpillStats:
        return SpillStats(
            messages=self._spill.messages,
            bytes=self._spill.bytes,
            failing=self._failing,
            last_error=self._last_error,
            dropped=dict(self._dropped_total),
            dropped_bytes=self._dropped_total_bytes,
            sent_from_memory=self._sent_from_memory,
            commit_failures=self._failures,
        )

    @property
    def committer_alive(self) -> bool:
        task = self._committer_task
        return task is not None and not task.done()

    @property
    def unreported_evictions(self) -> dict[str, int]:
        """Drops not yet reported in a `buffer_overflow` event (at most one per minute)."""
        out = dict(self._overflow)
        for stream, n in self._spill_dropped.items():
            out[stream] = out.get(stream, 0) + n
        return out

    async def oldest_age_s(self) -> float | None:
        """Age in seconds of the oldest waiting message, None when empty."""
        row = await self._db.run(lambda c: c.execute("SELECT min(created) FROM outbox").fetchone())
        oldest = [float(row[0])] if row is not None and row[0] is not None else []
        oldest += [h.item.created for h in self._spill.live()][:1]
        if not oldest:
            return None
        return max(0.0, self._clock.now().timestamp() - min(oldest))

    async def depth_by_stream(self) -> dict[str, int]:
        rows = await self._db.run(
            lambda c: c.execute("SELECT stream, count(*) FROM outbox GROUP BY stream").fetchall()
        )
        out = {str(s): int(n) for s, n in rows}
        for stream, n in self._spill_by_stream().items():
            out[stream] = out.get(stream, 0) + n
        return out

    def _spill_by_stream(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for held in self._spill.live():
            out[held.item.stream] = out.get(held.item.stream, 0) + 1
        return out

    def on_overflow(self, callback: Callable[[dict[str, int]], None]) -> None:
        """Call `callback(evicted_by_stream)` after each eviction."""
        self._on_overflow.append(callback)

    def _update_empty(self) -> None:
        assert self._empty is not None
        if self.depth == 0:
            self._empty.set()
        else:
            self._empty.clear()

    # ------------------------------------------------------------------ committer

    def _alive(self) -> None:
        self.last_progress = self._clock.monotonic()
        if self._beat is not None:
            self._beat()

    async def _committer(self) -> None:
        assert self._wake is not None and self._retry_now is not None
        while True:
            self._alive()
            if self._failing:
                await self._pause(self._retry.next())
            else:
                while not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), HEARTBEAT_S)
                    self._alive()
            self._wake.clear()
            self._retry_now.clear()
            await self._commit_once()

    async def _pause(self, delay: float) -> None:
        """Back off `delay` (injected clock), beating; cut short when someone waits (flush)."""
        assert self._retry_now is not None
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waiter = asyncio.ensure_future(self._retry_now.wait())
        try:
            while not sleeper.done() and not waiter.done():
                await asyncio.wait({sleeper, waiter}, timeout=HEARTBEAT_S,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                self._alive()
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def _commit_once(self) -> None:
        assert self._new is not None and self._round_done is not None
        started = self._clock.monotonic()
        sweep = started - self._last_sweep >= SWEEP_INTERVAL_S
        # While the disk refuses writes the drain may deliver every message from memory before
        # a retry finds one to write: then the seq counters are the retry's write (they must
        # reach the disk anyway), so recovery is noticed without waiting for a slow moment.
        probe = self._failing and bool(self._seq)
        if not sweep and not self._acks and not self._spill.has_queued() and not probe:
            # Nothing to write. An empty transaction would "succeed" on a full disk too.
            self._maybe_report_overflow()
            self._round_finished()
            return
        batch = self._spill.take_for_commit(COMMIT_CHUNK)
        acks, self._acks = self._acks, []
        pendings = [h.item for h in batch]
        now = self._clock.now().timestamp()
        limits = (self._cfg.max_messages, self._cfg.max_bytes, now - self._cfg.max_age_s)
        added_bytes = sum(len(p.payload) for p in pendings)
        seqs = dict(self._seq) if probe and not pendings and not acks else {}
        projected = (self._count + len(pendings), self._bytes + added_bytes)
        work = asyncio.ensure_future(
            self._db.transaction(
                lambda conn: _write(conn, pendings, acks, limits, projected, sweep, seqs)
            )
        )
        try:
            # Accepted messages are written even if we are stopped meanwhile: a cancelled
            # await would drop a transaction still queued on the database thread.
            result, stopped = await finish(work)
        except Exception as exc:  # the disk said no: keep everything, retry later
            self._commit_failed(batch, acks, exc)
            return
        if sweep:
            self._last_sweep = started
        self._spill.committed(batch)
        recovered = self._failing
        if self._failing:
            self._failing = False
            self._retry.reset()
            log.info("outbox_commit_recovered", failures=self._failures,
                     still_spilled=self._spill.messages)  # fmt: skip
        for row in acks:
            self._acked_ids.discard(row.id)
        self._acks_done += len(acks)
        self._count += len(pendings) - result.deleted_count - result.evicted_count
        self._bytes += added_bytes - result.deleted_bytes - result.evicted_bytes
        self._update_empty()
        if result.evicted:
            self._note_overflow(result)
        if pendings:
            self._generation += 1
            if not (self._tail_known and not recovered and self._hand_over(pendings, result)):
                self._tail_known = False
                top = min(p.prio for p in pendings)
                self._urgent = top if self._urgent is None else min(self._urgent, top)
            self._new.set()
        self._maybe_report_overflow()
        if self._spill.has_queued():
            self._kick()  # a long spill goes back in COMMIT_CHUNK pieces
        else:
            self._schedule_acks()  # acks that came in meanwhile wait for their batch
        self._round_finished()
        if stopped:
            raise asyncio.CancelledError

    def _hand_over(self, pendings: list[_Pending], result: _WriteResult) -> bool:
        """Put the rows just committed into the drain's buffer, in drain order; False when
        the buffer would grow past FETCH_BATCH (the drain is behind: it reads them back)."""
        if len(self._buf) + len(pendings) > FETCH_BATCH:
            return False
        first = result.last_id - len(pendings) + 1
        rows = [
            Row(first + i, p.prio, p.stream, p.seq, p.msg_id, p.live_session, p.payload)
            for i, p in enumerate(pendings)
            if first + i > self._known_id  # else the drain's read already had it
        ]
        self._known_id = max(self._known_id, result.last_id)
        if not rows:
            return True
        if self._buf and self._buf[-1].prio > min(r.prio for r in rows):
            rows = sorted([*self._buf, *rows], key=lambda r: (r.prio, r.id))
            self._buf.clear()
        else:
            rows.sort(key=lambda r: r.prio)  # stable: enqueue order within a priority
        self._buf.extend(rows)
        return True

    def _commit_failed(self, batch: list[Held[_Pending]], acks: list[Row], exc: Exception) -> None:
        assert self._new is not None
        self._spill.commit_failed(batch)
        self._acks[:0] = acks
        self._failures += 1
        self._last_error = str(exc) or type(exc).__name__
        if not self._failing:
            self._failing = True
            log.error("outbox_commit_failing", error=self._last_error,
                      spilled=self._spill.messages, error_type=type(exc).__name__,
                      exc_info=not isinstance(exc, StorageError))  # fmt: skip
            self._new.set()  # the drain may now send from memory
        self._round_finished()

    def _round_finished(self) -> None:
        assert self._round_done is not None
        self._alive()
        self._round_done.set()
        self._round_done = asyncio.Event()

    def _note_overflow(self, result: _WriteResult) -> None:
        self._buf.clear()  # prefetched rows may be among the evicted: refetch from the table
        self._tail_known = False
        self._generation += 1
        for stream, n in result.evicted.items():
            self._overflow[stream] = self._overflow.get(stream, 0) + n
        self._overflow_reason = result.reason
        log.warning(
            "outbox_evicted", evicted=result.evicted, reason=result.reason, depth=self._count
        )
        for callback in self._on_overflow:
            callback(dict(result.evicted))

    def _maybe_report_overflow(self) -> None:
        """At most one `buffer_overflow` a minute, and only once commits work again."""
        if not (self._overflow or self._spill_dropped) or not self._running or self._failing:
            return
        mono = self._clock.monotonic()
        last = self._last_overflow_report
        if last is not None and mono - last < OVERFLOW_REPORT_INTERVAL_S:
            return
        self._last_overflow_report = mono
        counts = self.unreported_evictions
        data: dict[str, object] = {
            "evicted": counts,
            "reason": self._overflow_reason or "spill_full",
            "depth": self._count,
            "max_messages": self._cfg.max_messages,
            "max_bytes": self._cfg.max_bytes,
            "max_age_s": self._cfg.max_age_s,
        }
        if self._spill_dropped:
            data["spill"] = {
                "dropped": dict(self._spill_dropped),
                "bytes": self._spill_dropped_bytes,
                "max_messages": self._spill.limits.max_messages,
                "max_bytes": self._spill.limits.max_bytes,
            }
        self._overflow, self._spill_dropped, self._spill_dropped_bytes = {}, {}, 0
        self._overflow_reason = ""
        self.put_nowait(
            EventBody(
                kind="buffer_overflow",
                message="outbox bounds reached: oldest evictable messages dropped",
                data=data,
            )
        )

    async def _sweeper(self) -> None:
        """Wake the committer now and then for the age sweep and pending overflow reports."""
        while True:
            await self._clock.sleep(SWEEP_INTERVAL_S)
            self._kick()

    # ------------------------------------------------------------------ a recreated file

    def _restore(self, conn: sqlite3.Connection) -> None:
        """Restorer (database thread): the seq counters, so numbering never goes back."""
        for stream, seq in dict(self._seq).items():
            conn.execute(
                "INSERT INTO outbox_seq(stream, seq) VALUES (?, ?) ON CONFLICT(stream) "
                "DO UPDATE SET seq = max(seq, excluded.seq)",
                (stream, seq),
            )

    def _on_storage_event(self, event: StorageEvent) -> None:
        if isinstance(event, FileRecreated) and not event.copied:
            # Committed rows went with the old file: count again, read from the start.
            self._tail_known = False  # ids start again in the new file
            self._reload = asyncio.ensure_future(self._after_recreate())

    async def _after_recreate(self) -> None:
        await self._load()
        self._acked_ids.clear()
        self.rewind()
        self._update_empty()
        log.error("outbox_reloaded_after_recreate", depth=self._count)


# ---------------------------------------------------------------------- database side


def _fetch(
    conn: sqlite3.Connection, *, cursor: dict[int, int], skip: set[int], limit: int = FETCH_BATCH
) -> tuple[list[Row], bool, int]:
    """Rows after the cursors, by priority; True when that is every such row (not cut short);
    the highest id ever given (AUTOINCREMENT's counter)."""
    rows: list[Row] = []
    read = 0
    found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    high = int(found[0]) if found is not None else 0
    for prio in sorted({int(p) for p in QUEUED_STREAMS.values()}):
        if read >= limit:
            return rows, False, high
        for r in conn.execute(
            "SELECT id, prio, stream, seq, msg_id, live_session, payload FROM outbox "
            "WHERE prio = ? AND id > ? ORDER BY id LIMIT ?",
            (prio, cursor.get(prio, -1), limit - read),
        ):
            read += 1
            if r[0] not in skip:
                rows.append(Row(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6])))
    return rows, read < limit, high


def _write(
    conn: sqlite3.Connection,
    batch: list[_Pending],
    acks: list[Row],
    limits: tuple[int, int, float],
    projected: tuple[int, int],
    sweep: bool,
    seqs: dict[str, int],
) -> _WriteResult:
    result = _WriteResult()
    if seqs:  # a retry with nothing else to write (see `_commit_once`)
        conn.executemany(
            "INSERT INTO outbox_seq(stream, seq) VALUES (?, ?) ON CONFLICT(stream) "
            "DO UPDATE SET seq = max(seq, excluded.seq)",
            list(seqs.items()),
        )
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
        # One writer inside BEGIN IMMEDIATE and AUTOINCREMENT: the batch's ids are contiguous.
        result.last_id = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
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
