"""The reconciler: the only writer to outputs, level-triggered.

It holds the wanted value of every output (from the rules, or from the emergency
table, which wins and does not depend on any rule evaluation) and compares it with
the value read back from the device. It writes only when they differ, only once a
read-back is known (so a restart at 19:00:30 rewrites nothing that is already right),
one write in flight per output, and retries a failed write with backoff. A device
that comes back is simply compared again: its outputs are re-asserted if they drifted.

It lives as long as the daemon (its tables survive a restart of the automation); every
write it makes is published on `writes` with its typed cause.

Tables, strongest first: life safety (the emergency latch), pulses (a gate relay held on
for its pulse length, then wanted off until it reads back off: timed here when the
controller cannot time it), the rules' wanted values, and settings (values a worker keeps
asserted, such as a gate controller's pulse length). Pending pulses are saved, so a
restart in the middle of one still ends it with the relay off.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec
import structlog

from drivers.modbus.codec import Value
from drivers.modbus.events import BusEvent, DeviceStatus, PointUpdate, Quality, WriteResult
from edge.clock import Clock
from edge.field.points import PointTable
from edge.storage import Database, kv
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


PULSES_KEY = "reconciler.pulses"


@dataclass
class _Pulse:
    on: Want
    off: Want
    until: float
    """Monotonic instant at which the output is wanted off again."""


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
        self,
        clock: Clock,
        points: PointTable,
        write: Writer,
        max_parallel: int = 64,
        db: Database | None = None,
    ) -> None:
        self._clock = clock
        self._points = points
        self._write = write
        self._db = db
        self.writes: Topic[WriteRecord] = Topic("writes")
        self._wanted: dict[str, Want] = {}
        self._settings: dict[str, Want] = {}
        self._pulses: dict[str, _Pulse] = {}
        self._saves: set[asyncio.Task[None]] = set()
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

    def set_settings(self, table: dict[str, Want]) -> None:
        """Values kept asserted below the rules (e.g. a gate controller's pulse length)."""
        self._settings = dict(table)
        self._dirty.set()

    def pulse(self, output: str, seconds: float, cause: Cause, on: Value = True) -> None:
        """Hold `output` on for `seconds`, then want it off (timed here, level-triggered)."""
        now = self._clock.now()
        off: Value = False if isinstance(on, bool) else 0
        self._pulses[output] = _Pulse(
            Want(on, "pulse", cause, now, now + timedelta(seconds=seconds)),
            Want(off, "pulse", cause, now + timedelta(seconds=seconds)),
            self._clock.monotonic() + seconds,
        )
        self._save_pulses()
        self._dirty.set()

    async def restore_pulses(self) -> list[str]:
        """After a restart: every pulse that was running is wanted off until it reads off."""
        if self._db is None:
            return []
        await self._db.migrate(kv.SCHEMA)
        raw = await self._db.run(lambda c: kv.get(c, PULSES_KEY))
        outputs: list[str] = msgspec.json.decode(raw, type=list[str]) if raw else []
        cause = Cause("pulse", "restart", detail="a pulse was running when edged stopped")
        for output in outputs:
            off = Want(False, "pulse", cause, self._clock.now())
            self._pulses[output] = _Pulse(off, off, self._clock.monotonic())
        self._dirty.set()
        return outputs

    def _save_pulses(self) -> None:
        db = self._db
        if db is None:
            return
        body = msgspec.json.encode(sorted(self._pulses)).decode()

        async def save() -> None:
            try:
                await db.run(lambda c: kv.put(c, PULSES_KEY, body))
            except Exception:  # the pulse runs anyway; a restart then may not end it
                log.exception("pulse_not_saved")

        task = asyncio.create_task(save())
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)

    @property
    def busy(self) -> bool:
        """A write is in flight (tests wait for quiet before moving simulated time on)."""
        return bool(self._tasks)

    def effective(self, output: str) -> Want | None:
        held = self._life_safety.get(output)
        if held is not None:
            return held
        pulse = self._pulses.get(output)
        if pulse is not None:
            return pulse.on if self._clock.monotonic() < pulse.until else pulse.off
        return self._wanted.get(output) or self._settings.get(output)

    def outputs(self) -> list[str]:
        tables = (self._wanted, self._life_safety, self._pulses, self._settings)
        return sorted(set().union(*tables))

    def _on_point(self, event: BusEvent) -> None:
        if isinstance(event, DeviceStatus):
            if event.online:
                self._dirty.set()
        elif isinstance(event, PointUpdate):
            ref = f"{event.device}.{event.point}"
            if (
                ref in self._wanted
                or ref in self._life_safety
                or ref in self._pulses
                or ref in self._settings
            ):
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
        for running in self._pulses.values():
            if now < running.until:  # wake up when it ends
                left = running.until - now
                soonest = left if soonest is None else min(soonest, left)
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
                pulse = self._pulses.get(output)
                if pulse is not None and want is pulse.off:  # the pulse has ended, off
                    del self._pulses[output]
                    self._save_pulses()
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
