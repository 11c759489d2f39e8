"""The bus engine: one `Bus` per physical link, polling its devices and writing to them.

Why it is shaped this way:
- One transaction per connection at a time. Writes, reads and probes go through one
  priority queue served by one worker per connection (one for RTU and gateways,
  `concurrency` for native TCP), so RTU slaves never fight over the port and the
  inter-frame silence is kept. A poll that finds nothing queued and a connection idle
  runs on it from its own task (two task switches fewer per transaction); the worker
  waiting for that connection gets it next (`Channel.take`).
- Writes jump the queue (priority 0 before polls at 1 and probes of dead devices at 2)
  and wait at most for the transaction in flight, never for a poll cycle.
- Each device has its own poll task that submits one block at a time; a device that
  stops answering is marked offline after one failed block (its other blocks are
  skipped) and then probed alone with a growing interval, so it costs the others one
  timeout per probe. A lost link fails requests instantly while the channel reconnects
  forever; the poll tasks keep their cadence and resume with the link.
- Every task body catches everything but cancellation: polling cannot silently stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog

from ..clock import Clock, SystemClock
from ..tasks import cancel_and_wait
from .channel import Channel, LinkDown
from .codec import Value, decode_point, encode_point, merge_bit
from .device import DeviceRuntime, differs
from .errors import (
    BusClosed,
    PointNotWritable,
    TransactionFailed,
    UnknownPoint,
)
from .events import (
    BusEvent,
    BusStats,
    PointUpdate,
    PollStats,
    Quality,
    WriteResult,
)
from .links import DeviceConfig, Link, TcpLink
from .planner import Block, table_segments
from .points import DataType, PointSpec, Table
from .raw import RawRequest
from .requests import Request, read_request, response_data, write_request

log = structlog.get_logger("drivers.modbus")

PRIO_WRITE = 0
PRIO_POLL = 1
PRIO_PROBE = 2

Call = Callable[[Request], Awaitable[Any]]
Op = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _PollRead:
    """A block's read, made once per device: sent directly or queued as `op`."""

    request: Request
    table: Table
    count: int
    op: Op


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    device: DeviceRuntime = field(compare=False)
    op: Op = field(compare=False)
    future: asyncio.Future[Any] = field(compare=False)
    retries: int = field(compare=False)


class Bus:
    """Polls and writes the devices of one link. Use as `async with Bus(...) as bus:`.

    Events (`PointUpdate`, `DeviceStatus`) go to `on_event(event)` if given, else to
    the `bus.events` asyncio.Queue (bounded; the oldest event is dropped and counted
    when nobody reads it).
    """

    def __init__(
        self,
        link: Link,
        devices: Sequence[DeviceConfig],
        *,
        name: str | None = None,
        clock: Clock | None = None,
        on_event: Callable[[BusEvent], None] | None = None,
        event_queue_size: int = 10_000,
    ) -> None:
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate device names on one bus: {names}")
        self.link = link
        self.name = name or link.label
        self.clock: Clock = clock or SystemClock()
        self.stats = BusStats()
        self._configs = list(devices)
        self._on_event = on_event
        self._devices: dict[str, DeviceRuntime] = {}
        self._poll_reads: dict[str, list[_PollRead]] = {}
        self._channels: list[Channel] = []
        self._seq = itertools.count()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self.events: asyncio.Queue[BusEvent] = asyncio.Queue(event_queue_size)
        self.poll_stats: dict[str, PollStats] = {
            d.name: PollStats(d.poll_interval_s) for d in devices
        }
        """Per device: when its poll cycles started, so the achieved period can be shown."""

    # ---- lifecycle ---------------------------------------------------------
    @property
    def label(self) -> str:
        """The link, for people (`tcp://10.0.0.5:502`, `rtu:/dev/ttyUSB0@19200`)."""
        return self.link.label

    async def __aenter__(self) -> Bus:
        _quiet_pymodbus()
        self._jobs: asyncio.PriorityQueue[_Job] = asyncio.PriorityQueue()
        self._devices = {c.name: DeviceRuntime(c, self.clock, self._emit) for c in self._configs}
        self._poll_reads = {  # made once: a poll cycle only sends them
            d.name: [self._poll_read_of(d, b) for b in d.blocks] for d in self._devices.values()
        }
        workers = self.link.concurrency if isinstance(self.link, TcpLink) else 1
        self._channels = [Channel(self.link, self.stats, self.name) for _ in range(workers)]
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._running = True
        for i, ch in enumerate(self._channels):
            self._spawn(ch.supervise(), f"{self.name}:link{i}")
            self._spawn(self._worker(ch), f"{self.name}:worker{i}")
        for dev in self._devices.values():
            self._spawn(self._poll_loop(dev), f"{self.name}:{dev.name}:poll")
            if dev.config.profile.heartbeat is not None:
                self._spawn(self._heartbeat_loop(dev), f"{self.name}:{dev.name}:heartbeat")
        self._spawn(self._stale_loop(), f"{self.name}:stale")
        # Readiness: give the link one connect timeout to come up; a device that is
        # down at start-up is not an error (it is reported offline and retried forever).
        try:
            await self.wait_connected(self.link.connect_timeout_s)
        except BaseException:  # cancelled while starting: leave no poll task behind
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._running = False
        # Until every task is done: pymodbus' `wait_for` can swallow a cancellation.
        await asyncio.gather(*(cancel_and_wait(t) for t in self._tasks))
        if self._tg is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._tg.__aexit__(None, None, None)
        for ch in self._channels:
            ch.close()
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if not job.future.done():
                job.future.set_exception(BusClosed(f"bus {self.name} closed"))

    def _spawn(self, coro: Any, name: str) -> None:
        assert self._tg is not None
        self._tasks.append(self._tg.create_task(coro, name=name))

    async def wait_connected(self, within_s: float | None = None) -> bool:
        """Wait until every connection of the link is up (True) or `within_s` passes."""
        results = await asyncio.gather(*(c.wait_connected(within_s) for c in self._channels))
        return all(results)

    # ---- public API --------------------------------------------------------
    @property
    def devices(self) -> list[str]:
        return [c.name for c in self._configs]

    def device_online(self, device: str) -> bool | None:
        """True/False once known, None before the first answer or failure."""
        return self._device(device).online

    def snapshot(self) -> list[PointUpdate]:
        """The last emitted state of every point (value, quality), e.g. for `edgectl status`."""
        out = []
        now = self.clock.now()
        for dev in self._devices.values():
            for name, st in dev.state.items():
                if st.quality is not None:
                    out.append(PointUpdate(dev.name, name, st.value, st.quality, now))
        return out

    async def write(self, device: str, point: str, value: Value) -> WriteResult:
        """Write a point (ahead of queued polls) and read it back.

        Raises ValueOutOfRange/CodecError before sending anything, PointNotWritable,
        UnknownPoint, or TransactionFailed when the device does not take the write.
        """
        dev = self._device(device)
        spec = self._point(dev, point)
        if not spec.writable:
            raise PointNotWritable(device, point)
        encoded = encode_point(spec, value)
        await self._submit(dev, PRIO_WRITE, self._write_op(dev, spec, encoded), dev.config.retries)
        intended = _intended(spec, encoded)
        if not spec.verify:
            return WriteResult(
                device, point, value, intended, False, Quality.UNCERTAIN, self.clock.now()
            )
        if spec.readback.delay_s:
            await self.clock.sleep(spec.readback.delay_s)
        table, address = spec.readback_table, spec.readback_address
        data = await self._submit(
            dev,
            PRIO_WRITE,
            self._read_op(dev, table, address, spec.register_count),
            dev.config.retries,
        )
        decoded = decode_point(spec, data)  # same bit-ness: validated in PointSpec
        verified = not differs(intended, decoded, 0.0)
        quality = Quality.GOOD if verified else Quality.UNCERTAIN
        if not verified:
            log.warning("write_not_verified", device=device, point=point, asked=intended)
        dev.publish(spec, decoded, quality)
        return WriteResult(device, point, value, decoded, verified, quality, self.clock.now())

    async def read(self, device: str, point: str) -> PointUpdate:
        """Read one point now (ahead of polls); the result is also published."""
        dev = self._device(device)
        spec = self._point(dev, point)
        if spec.datatype in (DataType.STATUS_TABLE, DataType.STATUS_COUNT):
            return await self._read_table(dev, spec)
        data = await self._submit(
            dev,
            PRIO_WRITE,
            self._read_op(dev, spec.table, spec.address, spec.register_count),
            dev.config.retries,
        )
        value = decode_point(spec, data)
        dev.publish(spec, value, Quality.GOOD)
        return PointUpdate(device, point, value, Quality.GOOD, self.clock.now())

    def points_of(self, device: str) -> dict[str, PointSpec]:
        """The resolved profile points of a device (UnknownPoint for a device not here)."""
        return dict(self._device(device).points)

    async def raw(self, device: str, request: RawRequest) -> list[int] | list[bool]:
        """One raw request to `device`'s unit, queued like a write: it goes between the
        bus's poll transactions, on the bus's own connection (so RTU works while the
        bus runs). Reads return the data; writes return the values written. Nothing is
        published: the next poll reports what the device holds.

        Raises UnknownPoint, TransactionFailed (`exception_code` set when the device
        answered with an exception) or BusClosed.
        """
        dev = self._device(device)
        unit = dev.config.unit_id
        if request.is_write:
            values: list[int] | list[bool] = (
                [bool(v) for v in request.values] if request.table.is_bits else list(request.values)
            )
            write = write_request(request.function, request.address, values, unit)

            async def write_op(call: Call) -> list[int] | list[bool]:
                await call(write)
                return values

            op: Op = write_op
        else:
            op = self._read_op(dev, request.table, request.address, request.count)
        result: list[int] | list[bool] = await self._submit(dev, PRIO_WRITE, op, dev.config.retries)
        return result

    async def _read_table(self, dev: DeviceRuntime, spec: PointSpec) -> PointUpdate:
        """A status table (or a count derived from one): every segment, then its value."""
        table = dev.points[spec.count.of] if spec.count is not None else spec
        limit = dev.config.profile.max_block_registers
        for block in table_segments(table, limit):
            data = await self._submit(
                dev, PRIO_WRITE, self._block_op(dev, block), dev.config.retries
            )
            dev.apply_block(-1, data, dev.layout(block))
        st = dev.state[spec.name]
        quality = st.quality or Quality.UNCERTAIN
        return PointUpdate(dev.name, spec.name, st.value, quality, self.clock.now())

    # ---- internals ---------------------------------------------------------
    def _device(self, name: str) -> DeviceRuntime:
        if not self._devices:
            raise BusClosed(f"bus {self.name} is not running")
        try:
            return self._devices[name]
        except KeyError:
            raise UnknownPoint(name) from None

    def _point(self, dev: DeviceRuntime, name: str) -> PointSpec:
        try:
            return dev.points[name]
        except KeyError:
            raise UnknownPoint(dev.name, name) from None

    def _emit(self, event: BusEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("event_callback_failed", bus=self.name)
            return
        if self.events.full():
            self.events.get_nowait()
            self.stats.events_dropped += 1
        self.events.put_nowait(event)

    async def _submit(self, dev: DeviceRuntime, priority: int, op: Op, retries: int) -> Any:
        if not self._running:
            raise BusClosed(f"bus {self.name} is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait(_Job(priority, next(self._seq), dev, op, future, retries))
        return await future

    async def _poll_read(self, dev: DeviceRuntime, read: _PollRead, retries: int) -> Any:
        """One block of a poll cycle: at once on an idle connection when nothing is queued
        (without the queue's two task switches; a lost link fails it at once, as in the
        worker), else queued behind the writes. Only polls take this path: they are
        cancelled only when the bus closes, so no caller abandons a transaction half way
        through the link."""
        if not self._running:
            raise BusClosed(f"bus {self.name} is not running")
        if self._jobs.empty():
            for ch in self._channels:
                if ch.free:
                    cfg = dev.config
                    ch.take_now()
                    try:
                        response = await ch.transact(
                            cfg.name, cfg.unit_id, read.request, cfg.timeout_s, retries
                        )
                    finally:
                        ch.give_back()
                    return _read_data(dev.name, read.table, response, read.count)
        return await self._submit(dev, PRIO_POLL, read.op, retries)

    async def _worker(self, ch: Channel) -> None:
        while self._running:
            job = await self._jobs.get()
            if job.future.done():
                continue  # the caller gave up (cancelled) while the job was queued
            await ch.take()  # after a direct poll in flight: at most one transaction
            try:
                await self._run(ch, job)
            finally:
                ch.give_back()

    async def _run(self, ch: Channel, job: _Job) -> None:
        cfg = job.device.config
        if job.priority == PRIO_WRITE and not ch.connected:
            # A write during a reconnect waits for the link as long as it would
            # wait for the device; polls fail at once and keep their cadence.
            await ch.wait_connected(cfg.timeout_s * (job.retries + 1))

        def call(request: Request) -> Any:
            return ch.transact(cfg.name, cfg.unit_id, request, cfg.timeout_s, job.retries)

        try:
            result = await job.op(call)
        except asyncio.CancelledError:
            if not job.future.done():
                job.future.set_exception(BusClosed(f"bus {self.name} closed"))
            raise
        except Exception as exc:
            if not job.future.done():
                job.future.set_exception(exc)
        else:
            if not job.future.done():
                job.future.set_result(result)

    def _read_op(self, dev: DeviceRuntime, table: Table, address: int, count: int) -> Op:
        request = read_request(table, address, count, dev.config.unit_id)
        return _request_op(dev.name, request, table, count)

    def _write_op(self, dev: DeviceRuntime, spec: PointSpec, values: list[int] | list[bool]) -> Op:
        unit = dev.config.unit_id
        fc = spec.effective_write_fc

        async def op(call: Call) -> None:
            data = values
            if spec.datatype is DataType.BOOL and not spec.table.is_bits:
                # A bit inside a register: read-modify-write inside one job (atomic on the bus).
                assert spec.bit is not None
                current = await call(read_request(Table.HOLDING, spec.address, 1, unit))
                register = int(response_data(Table.HOLDING, current, 1)[0])
                data = [merge_bit(register, spec.bit, bool(values[0]))]
            await call(write_request(fc, spec.address, data, unit))

        return op

    async def _poll_loop(self, dev: DeviceRuntime) -> None:
        cfg = dev.config
        # Let the first connection come up, so start-up is not reported as an outage.
        await self._channels[0].wait_connected(self.link.connect_timeout_s)
        next_due = self.clock.monotonic()
        while True:
            try:
                if dev.online is False and dev.device_fault and not await self._probe(dev):
                    delay = min(cfg.probe_max_s, cfg.probe_min_s * 2**dev.probe_attempt)
                    dev.probe_attempt = min(dev.probe_attempt + 1, 30)
                    await self.clock.sleep(delay * random.uniform(0.8, 1.2))
                    next_due = self.clock.monotonic()
                    continue
                self.poll_stats[dev.name].started(self.clock.monotonic())
                read = await self._poll_cycle(dev)
            except asyncio.CancelledError:
                raise
            except BusClosed:
                return  # closing, and pymodbus swallowed the cancellation (3.11 wait_for)
            except Exception:
                log.exception("poll_cycle_failed", bus=self.name, device=dev.name)
                read = False
            next_due += cfg.poll_interval_s
            now = self.clock.monotonic()
            if next_due < now:
                next_due = now  # late: do not burst to catch up
            # Due again at once: a cycle that read the device has waited on the link
            # already, so no extra loop turn; any other (a failure) yields here.
            if next_due > now or not read:
                await self.clock.sleep(next_due - now)

    async def _probe(self, dev: DeviceRuntime) -> bool:
        """One read of the first block, no retries: does the dead device answer again?"""
        block = dev.blocks[0] if dev.blocks else None
        if block is None:
            return True
        try:
            await self._submit(dev, PRIO_PROBE, self._block_op(dev, block), 0)
        except TransactionFailed as exc:
            if exc.exception_code is not None:
                return True  # it answered: back in the cycle, the block gets uncertain
            log.debug("probe_failed", device=dev.name, reason=exc.reason)
            return False
        return True

    def _block_op(self, dev: DeviceRuntime, block: Block) -> Op:
        return self._read_op(dev, block.table, block.start, block.count)

    def _poll_read_of(self, dev: DeviceRuntime, block: Block) -> _PollRead:
        table, count = block.table, block.count
        request = read_request(table, block.start, count, dev.config.unit_id)
        return _PollRead(request, table, count, _request_op(dev.name, request, table, count))

    async def _poll_cycle(self, dev: DeviceRuntime) -> bool:
        """Read every block of `dev`; True if the device answered (data or a refusal)."""
        answered = False
        retries = dev.config.retries
        for index, read in enumerate(self._poll_reads[dev.name]):
            try:
                data = await self._poll_read(dev, read, retries)
            except LinkDown as exc:
                dev.set_offline(exc.reason, device_fault=False)
                await self._channels[0].wait_connected(max(dev.config.poll_interval_s, 0.05))
                return False
            except TransactionFailed as exc:
                if exc.exception_code is not None:
                    dev.set_online()
                    log.debug("block_refused", device=dev.name, code=exc.exception_code)
                    dev.refuse_block(index)
                    answered = True
                    continue
                dev.set_offline(exc.reason, device_fault=True)
                return False
            dev.set_online()
            dev.apply_block(index, data)
            answered = True
        return answered

    async def _heartbeat_loop(self, dev: DeviceRuntime) -> None:
        hb = dev.config.profile.heartbeat
        assert hb is not None
        spec = dev.points[hb.point]
        counter = 0
        while True:
            await self.clock.sleep(hb.period_s)
            counter = (counter + 1) & 0x7FFF
            try:
                await self._submit(dev, PRIO_WRITE, self._write_op(dev, spec, [counter]), 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("heartbeat_failed", device=dev.name, error=str(exc))

    async def _stale_loop(self) -> None:
        while True:
            await self.clock.sleep(0.5)
            for dev in self._devices.values():
                try:
                    dev.check_stale()
                except Exception:
                    log.exception("stale_check_failed", device=dev.name)


def _quiet_pymodbus() -> None:
    """pymodbus logs every timeout at ERROR; the bus reports state changes itself (once,
    then at debug). Leave it alone if the application set a level for it."""
    logger = logging.getLogger("pymodbus")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)


def _request_op(device: str, request: Request, table: Table, count: int) -> Op:
    async def op(call: Call) -> list[int] | list[bool]:
        return _read_data(device, table, await call(request), count)

    return op


def _read_data(device: str, table: Table, response: Any, count: int) -> list[int] | list[bool]:
    try:
        return response_data(table, response, count)
    except ValueError as exc:
        raise TransactionFailed(device, str(exc)) from exc


def _intended(spec: PointSpec, encoded: list[int] | list[bool]) -> Value:
    """The value the device should report after the write (after encoding/rounding)."""
    if spec.datatype is DataType.BOOL:
        return bool(encoded[0])
    return decode_point(spec, encoded)
