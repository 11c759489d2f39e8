"""The reconciler: the only writer to outputs, level-triggered.

It holds the wanted value of every output (from the rules, or from the emergency
table, which wins and does not depend on any rule evaluation) and compares it with
the value read back from the device. It writes only when they differ, only once a
read-back is known (so a restart at 19:00:30 rewrites nothing that is already right),
one write in flight per output, and retries a failed write with backoff. A device
that comes back is simply compared again: its outputs are re-asserted if they drifted.

It lives as long as the daemon (its tables survive a restart of the automation); every
write it makes is published on `writes` with its typed cause.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from drivers.modbus.codec import Value
from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality, WriteResult
from edge.clock import Clock
from edge.field.points import PointTable
from edge.topic import Topic

log = structlog.get_logger("edge.reconciler")

Writer = Callable[[str, str, Value], Awaitable[WriteResult]]
RETRY_MIN_S = 1.0
RETRY_MAX_S = 60.0
# A stale read-back is still the device's last known state (a busy bus, not a dead device):
# writing is right, and the write reads back anyway. Only a device that does not answer
# (comm_fail) waits until it is back.
READABLE = (Quality.GOOD, Quality.UNCERTAIN, Quality.STALE)


class CommandFailed(Exception):
    """A one-shot write did not reach the device."""

    def __init__(self, output: str, error: str) -> None:
        super().__init__(f"{output}: {error}")
        self.output = output
        self.error = error


@dataclass(frozen=True, slots=True)
class Cause:
    """Why an output is written: journaled as fields, never flattened into one string.

    `kind`: booking, schedule, event, default, override, emergency, shutdown, access,
    technician or cloud; `id`: the booking, rule, override, pass or gate concerned;
    `actor`: who asked, as "kind:id" (`technician:alice`, `cloud:<cmd_id>`), empty when
    the cause acts by itself (a booking, a schedule); `detail`: free text.
    """

    kind: str
    id: str = ""
    actor: str = ""
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


@dataclass(frozen=True, slots=True)
class Want:
    """What an output should be, and why (for explain and the journal).

    `expect` is the value as the device reads it back when that differs from what is
    written (an enum written by number reads back as its label)."""

    value: Value
    level: str
    cause: Cause
    since: datetime | None = None
    until: datetime | None = None
    expect: Value | None = None

    @property
    def read_back(self) -> Value:
        return self.value if self.expect is None else self.expect


@dataclass(frozen=True, slots=True)
class WriteRecord:
    output: str
    want: Want
    result: WriteResult | None
    error: str | None
    at: datetime


@dataclass
class _Track:
    attempts: int = 0
    retry_at: float = 0.0
    in_flight: bool = False
    verified: Value | None = None
    writes: int = 0


@dataclass
class ReconcilerStats:
    writes: int = 0
    failures: int = 0
    per_output: dict[str, int] = field(default_factory=dict)


def same(a: Value | None, b: Value | None) -> bool:
    """Equal as outputs: floats within a hundredth (registers carry 0.1 or 0.01 steps);
    an enum's label compares as text (normalise a raw enum number to its label first)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return math.isclose(float(a), float(b), abs_tol=0.01)


class Reconciler:
    name = "reconciler"

    def __init__(
        self, clock: Clock, points: PointTable, write: Writer, max_parallel: int = 64
    ) -> None:
        self._clock = clock
        self._points = points
        self._write = write
        self.writes: Topic[WriteRecord] = Topic("writes")
        self._wanted: dict[str, Want] = {}
        self._life_safety: dict[str, Want] = {}
        self._tracks: dict[str, _Track] = {}
        self._dirty = asyncio.Event()
        self._slots = asyncio.Semaphore(max_parallel)
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = ReconcilerStats()

    # ---- inputs ----------------------------------------------------------------
    def set_wanted(self, wanted: dict[str, Want]) -> None:
        """The rules' winners for every output (replaces the previous set)."""
        self._wanted = dict(wanted)
        self._dirty.set()

    def set_life_safety(self, table: dict[str, Want]) -> None:
        """Emergency values that win over everything; an empty table ends the override."""
        self._life_safety = dict(table)
        self._dirty.set()

    @property
    def busy(self) -> bool:
        """A write is in flight (tests wait for quiet before moving simulated time on)."""
        return bool(self._tasks)

    def effective(self, output: str) -> Want | None:
        return self._life_safety.get(output) or self._wanted.get(output)

    def outputs(self) -> list[str]:
        return sorted(set(self._wanted) | set(self._life_safety))

    def _on_point(self, event: BusEvent) -> None:
        if isinstance(event, DeviceStatus):
            if event.online:
                self._dirty.set()
        elif isinstance(event, PointUpdate):
            ref = f"{event.device}.{event.point}"
            if ref in self._wanted or ref in self._life_safety:
                self._dirty.set()

    async def command(self, output: str, value: Value, cause: Cause) -> WriteResult | None:
        """A one-shot write (a gate pulse), through the same writer and journal.

        Not level-compared: the device ends the pulse itself. Skipped (None) while a
        life-safety value holds the output, e.g. an egress gate held open in a fire.
        """
        held = self._life_safety.get(output)
        if held is not None:
            return None
        want = Want(value, "command", cause)
        device, _, point = output.partition(".")
        result: WriteResult | None = None
        error: str | None = None
        async with self._slots:
            try:
                result = await self._write(device, point, value)
            except Exception as exc:  # reported to the caller and the journal
                error = f"{type(exc).__name__}: {exc}"
        self.stats.writes += 1
        self.stats.per_output[output] = self.stats.per_output.get(output, 0) + 1
        self.writes.publish(WriteRecord(output, want, result, error, self._clock.now()))
        if error is not None:
            self.stats.failures += 1
            raise CommandFailed(output, error)
        return result

    # ---- the loop ----------------------------------------------------------------
    async def run(self, ready: Callable[[], None]) -> None:
        with self._points.subscribe(self._on_point):
            ready()
            await self._loop()

    async def _loop(self) -> None:
        try:
            while True:
                next_retry = self._pass()
                self._dirty.clear()
                timeout = None if next_retry is None else max(0.0, next_retry)
                waiter = asyncio.ensure_future(self._dirty.wait())
                sleeper = (
                    asyncio.ensure_future(self._clock.sleep(timeout))
                    if timeout is not None
                    else None
                )
                pending = {waiter} if sleeper is None else {waiter, sleeper}
                try:
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for f in pending:
                        f.cancel()
        finally:
            for t in list(self._tasks):
                t.cancel()

    def _pass(self) -> float | None:
        """Start the writes that are needed now; seconds until the next retry is due."""
        now = self._clock.monotonic()
        soonest: float | None = None
        for output in self.outputs():
            want = self.effective(output)
            if want is None:
                continue
            track = self._tracks.setdefault(output, _Track())
            if track.in_flight:
                continue
            state = self._points.get(output)
            if state is None or state.quality not in READABLE:
                continue  # no read-back yet, or the device is down: compare when it is back
            if same(state.value, want.read_back):
                track.attempts = 0
                continue
            if track.retry_at > now:
                wait = track.retry_at - now
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            track.in_flight = True
            task = asyncio.create_task(self._apply(output, want, track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return soonest

    async def _apply(self, output: str, want: Want, track: _Track) -> None:
        device, _, point = output.partition(".")
        result: WriteResult | None = None
        error: str | None = None
        async with self._slots:
            try:
                result = await self._write(device, point, want.value)
            except asyncio.CancelledError:
                track.in_flight = False
                raise
            except Exception as exc:  # a failed write is retried, never fatal
                error = f"{type(exc).__name__}: {exc}"
        track.writes += 1
        self.stats.writes += 1
        self.stats.per_output[output] = self.stats.per_output.get(output, 0) + 1
        # A point that cannot be read back (verify=false, e.g. a pulse relay) reports what
        # was sent; that counts as done, not as a failure to retry.
        ok = result is not None and (result.verified or same(result.value, want.read_back))
        if ok:
            track.attempts = 0
            track.retry_at = 0.0
        else:
            self.stats.failures += 1
            track.attempts += 1
            backoff = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** (track.attempts - 1))
            track.retry_at = self._clock.monotonic() + backoff * random.uniform(0.8, 1.2)
        if result is not None:
            # The read-back is the truth until the next poll says otherwise.
            self._points.publish(
                PointUpdate(device, point, result.value, result.quality, result.ts)
            )
        track.in_flight = False
        log.info(
            "output_written" if ok else "output_write_failed",
            output=output,
            value=want.value,
            level=want.level,
            cause=str(want.cause),
            read_back=None if result is None else result.value,
            error=error,
            attempt=track.attempts,
        )
        self.writes.publish(WriteRecord(output, want, result, error, self._clock.now()))
        self._dirty.set()
